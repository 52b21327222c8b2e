// smtpd/policy_service.cc - the policy delegation protocol and its client connection.
#include "smtpd/policy_service.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "lib/base/strings.h"
#include "lib/base/unique_fd.h"
#include "lib/milter/session.h"

namespace postilion::smtpd {

std::string policy_request(const std::vector<std::pair<std::string, std::string>>& attrs) {
  std::string out;
  for (const auto& [name, value] : attrs) {
    out += name;
    out += '=';
    for (size_t i = 0; i < value.size() && i < kMaxPolicyValue; ++i) {
      unsigned char c = static_cast<unsigned char>(value[i]);
      out += c < 0x20 || c == 0x7f ? '?' : value[i];
    }
    out += '\n';
  }
  out += '\n';
  return out;
}

PolicyReplyReader::Status PolicyReplyReader::bad(std::string why) {
  error_ = std::move(why);
  return Status::Bad;
}

PolicyReplyReader::Status PolicyReplyReader::feed(std::string_view in, size_t* used) {
  *used = 0;
  if (!error_.empty()) return Status::Bad;
  while (*used < in.size()) {
    char c = in[(*used)++];
    if (++total_ > kMaxReply) return bad("reply longer than " + std::to_string(kMaxReply) + " octets");
    if (c == '\0') return bad("NUL in reply");
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      if (!have_action_) return bad("reply without action=");
      return Status::Done;
    }
    size_t eq = line_.find('=');
    if (eq == std::string::npos || eq == 0)
      return bad("malformed reply line \"" + str::printable(line_, 100) + "\"");
    if (line_.compare(0, eq, "action") == 0 && eq == 6) {
      action_ = str::trim(std::string_view(line_).substr(eq + 1));
      have_action_ = !action_.empty();
      if (!have_action_) return bad("empty action=");
    }
    line_.clear();
  }
  return Status::NeedMore;
}

Parsed<std::string> parse_policy_reply(std::string_view text) {
  PolicyReplyReader r;
  size_t used = 0;
  switch (r.feed(text, &used)) {
    case PolicyReplyReader::Status::Done:
      if (used != text.size()) return Parsed<std::string>::bad("text after the reply");
      return r.action();
    case PolicyReplyReader::Status::Bad:
      return Parsed<std::string>::bad(r.error());
    case PolicyReplyReader::Status::NeedMore:
      break;
  }
  return Parsed<std::string>::bad("reply without its empty last line");
}

PolicyClient::PolicyClient(event::EventBase& base, std::string spec, int64_t timeout_ms, int64_t max_idle_ms)
    : base_(base), spec_(std::move(spec)), timeout_ms_(timeout_ms), max_idle_ms_(max_idle_ms) {
  timer_ = event::Timer(base_, [this] { finish(Error("timeout"), false); });
  idle_timer_ = event::Timer(base_, [this] { close(); });
}

PolicyClient::~PolicyClient() = default;

void PolicyClient::ask(std::string request, std::function<void(Result<std::string>)> done) {
  done_ = std::move(done);
  reader_ = PolicyReplyReader();
  idle_timer_.stop();
  timer_.start(timeout_ms_);
  request_ = std::move(request);
  reused_ = static_cast<bool>(bev_);
  if (!reused_) {
    pending_ = request_;
    open();
    return;
  }
  bev_.write(request_);
}

void PolicyClient::open() {
  sockaddr_storage ss;
  socklen_t len = 0;
  std::string why;
  if (!milter::parse_spec(spec_, &ss, &len, &why)) return finish(Error(why), false);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return finish(Error::from_errno("socket"), false);
  bev_ = event::BufferEvent(base_, UniqueFd(fd));
  connected_ = false;
  bev_.set_callbacks([this] { on_read(); }, [] {}, [this](short what) { on_event(what); });
  bev_.enable(EV_READ | EV_WRITE);
  if (bufferevent_socket_connect(bev_.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<int>(len)) != 0)
    return finish(Error::from_errno("connect"), false);
}

void PolicyClient::on_event(short what) {
  if (what & BEV_EVENT_CONNECTED) {
    connected_ = true;
    if (!pending_.empty()) bev_.write(pending_);
    pending_.clear();
    return;
  }
  int e = EVUTIL_SOCKET_ERROR();
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && done_ && reused_ && reader_.fresh()) {
    // The server had closed the kept connection: once more on a new one.
    close();
    reused_ = false;
    pending_ = request_;
    open();
    return;
  }
  if (what & BEV_EVENT_EOF) return finish(Error("connection closed by the policy server"), false);
  if (what & BEV_EVENT_ERROR)
    return finish(Error(std::string(connected_ ? "connection error: " : "connect: ") + std::strerror(e), e), false);
}

void PolicyClient::on_read() {
  evbuffer* in = bev_.input();
  size_t n = evbuffer_get_length(in);
  if (n == 0) return;
  std::string bytes(n, '\0');
  evbuffer_copyout(in, bytes.data(), n);
  if (!done_) {  // nothing asked: a server that talks out of turn is dropped
    close();
    return;
  }
  size_t used = 0;
  auto st = reader_.feed(bytes, &used);
  evbuffer_drain(in, used);
  if (st == PolicyReplyReader::Status::NeedMore) return;
  if (st == PolicyReplyReader::Status::Bad) return finish(Error("malformed reply: " + reader_.error()), false);
  // Anything after the reply was not asked for: the connection is not reused.
  finish(reader_.action(), evbuffer_get_length(in) == 0);
}

void PolicyClient::finish(Result<std::string> r, bool keep) {
  timer_.stop();
  if (!keep) close();
  else if (max_idle_ms_ > 0) idle_timer_.start(max_idle_ms_);
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(r));
}

void PolicyClient::close() {
  idle_timer_.stop();
  pending_.clear();
  connected_ = false;
  if (!bev_) return;
  // Not destroyed here: this may run inside the connection's own callback.
  base_.defer_delete(std::make_unique<event::BufferEvent>(std::move(bev_)));
  bev_ = event::BufferEvent();
}

}  // namespace postilion::smtpd
