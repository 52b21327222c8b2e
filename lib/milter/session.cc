// lib/milter/session.cc - the milter client: one connection per filter, stages run through the
// filters in order, the message read back from the prepared queue file.
#include "lib/milter/session.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "lib/base/strings.h"
#include "lib/base/unique_fd.h"
#include "lib/log/log.h"

namespace postilion::milter {


namespace {

// Output held for a filter that does not answer each packet (SMFIP_NR_*), before more
// is sent: a slow filter must not make the session buffer a whole message.
constexpr size_t kMaxOutput = 1024 * 1024;
// Changes a filter may ask for at the end of one message (besides the body, which
// max_body bounds): a filter that sends more is misbehaving, not editing.
constexpr size_t kMaxEdits = 10000;
constexpr uint64_t kMaxEditBytes = 4 * 1024 * 1024;

smtp::Reply tempfail_reply() { return smtp::reply(451, "4.7.1", "Service unavailable - try again later"); }
smtp::Reply reject_reply() { return smtp::reply(550, "5.7.1", "Command rejected"); }

// An SMFIR_REPLYCODE text (checked by the decoder) as a reply.
smtp::Reply reply_from_text(const std::string& text) {
  smtp::Reply r;
  r.code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find("\r\n", pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 2;
    std::string rest = line.size() > 4 ? line.substr(4) : "";
    // The enhanced code of the first line is the reply's; each line drops its own.
    size_t sp = rest.find(' ');
    std::string first = rest.substr(0, sp);
    bool enhanced = first.size() >= 5 && first[1] == '.' && first[0] == text[0] &&
                    first.find_first_not_of("0123456789.") == std::string::npos;
    if (enhanced) {
      if (r.lines.empty()) r.status = first;
      rest = sp == std::string::npos ? "" : rest.substr(sp + 1);
    }
    r.lines.push_back(rest);
  }
  if (r.status.empty()) r.status = r.code >= 500 ? "5.7.1" : "4.7.1";
  if (r.lines.empty()) r.lines.push_back("");
  return r;
}

std::string strip_brackets(std::string s) {
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

bool parse_spec(const std::string& spec, sockaddr_storage* ss, socklen_t* len, std::string* why) {
  std::memset(ss, 0, sizeof *ss);
  if (spec.rfind("unix:", 0) == 0) {
    std::string path = spec.substr(5);
    auto* sun = reinterpret_cast<sockaddr_un*>(ss);
    if (path.empty() || path.size() >= sizeof sun->sun_path) {
      *why = "bad socket path";
      return false;
    }
    sun->sun_family = AF_UNIX;
    std::memcpy(sun->sun_path, path.data(), path.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return true;
  }
  if (spec.rfind("inet:", 0) != 0) {
    *why = "not inet:host:port or unix:/path";
    return false;
  }
  std::string rest = spec.substr(5);
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *why = "no host:port";
    return false;
  }
  std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  // getaddrinfo takes an empty port as 0: no filter listens there.
  auto port_number = str::parse_uint(port);
  if (!port_number || *port_number == 0 || *port_number > 65535) {
    *why = "host is not an IP address or the port is not a number";
    return false;
  }
  // Numeric only: a DNS lookup would block the loop.
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    *why = "host is not an IP address or the port is not a number";
    return false;
  }
  std::memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

Result<std::vector<std::string>> parse_milter_list(std::string_view value) {
  if (value.size() > 4000) return Error("milter list longer than 4000 bytes").set_permanent();
  std::vector<std::string> list = str::split(value, " \t\r\n,");
  if (list.empty()) return Error("empty milter list").set_permanent();
  if (list.size() == 1 && str::iequals(list[0], "DISABLE")) return std::vector<std::string>{};
  if (list.size() > kMaxMilterList)
    return Error("more than " + std::to_string(kMaxMilterList) + " milters").set_permanent();
  for (const auto& spec : list) {
    sockaddr_storage ss;
    socklen_t len = 0;
    std::string why;
    if (str::iequals(spec, "DISABLE")) return Error("DISABLE with other milters").set_permanent();
    if (!parse_spec(spec, &ss, &len, &why))
      return Error("milter \"" + str::printable(spec, 100) + "\": " + why).set_permanent();
  }
  return list;
}


namespace {

// Copies content bytes [from, to) of the message's file to sink.
Status copy_content(int fd, uint64_t base, uint64_t from, uint64_t to, const std::function<Status(std::string_view)>& sink) {
  std::string buf;
  while (from < to) {
    buf.resize(static_cast<size_t>(std::min<uint64_t>(64 * 1024, to - from)));
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(base + from));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(n < 0 ? std::string("queue file read: ") + std::strerror(errno) : "queue file read: short file");
    buf.resize(static_cast<size_t>(n));
    if (auto st = sink(buf); !st) return st;
    from += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Status write_edited_content(const MilterMessage& m, const std::function<Status(std::string_view)>& sink) {
  Status st;
  if (m.headers_changed) {
    st = sink(m.headers.text());
    if (st) st = copy_content(m.fd, m.offset, m.header_end, m.body_start, sink);
  } else {
    st = copy_content(m.fd, m.offset, 0, m.body_start, sink);
  }
  if (!st) return st;
  if (m.body) {
    if (m.body_start == m.header_end) st = sink("\r\n");  // a body needs its empty line
    if (st) st = sink(*m.body);
    return st;
  }
  return copy_content(m.fd, m.offset, m.body_start, m.length, sink);
}

bool MilterMessage::load(std::string* why) {
  size_t want = static_cast<size_t>(std::min<uint64_t>(length, milter::kMaxHeaderSection + 65536));
  std::string head(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, head.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *why = n < 0 ? std::string("queue file read: ") + std::strerror(errno) : "queue file read: short file";
      return false;
    }
    got += static_cast<size_t>(n);
  }
  size_t body = 0;
  headers = milter::HeaderList::parse(head, &body, want == length);
  header_end = 0;
  for (const auto& f : headers.fields()) header_end += f.raw.size();
  // A header section cut off at the limit: the fields parsed so far, the rest is body.
  body_start = body == std::string::npos ? header_end : body;
  return true;
}

struct MilterSession::Filter {
  enum class State { Closed, Connecting, Negotiating, Ready, Waiting, Failed };
  std::string spec;
  State state = State::Closed;
  event::BufferEvent bev;
  event::Timer timer;
  milter::Framer framer;
  milter::Negotiated neg;
  int64_t timeout_ms = 0;        // of what is awaited
  bool skip_session = false;     // accepted at connect or HELO: out of the session
  bool skip_message = false;     // accepted (or asked to discard) in this transaction
  bool in_transaction = false;   // saw MAIL and not yet the end: ABORT when it ends early
  bool throttled = false;        // output over kMaxOutput: the write callback goes on
  bool lead_space() const { return neg.protocol & milter::kHdrLeadSpc; }
};

MilterSession::MilterSession(event::EventBase& base, const MilterConfig& cfg, Macros macros)
    : base_(base), cfg_(cfg), macros_(std::move(macros)), offer_(milter::offer_for_version(cfg.protocol)) {
  for (const auto& spec : cfg_.filters) {
    auto f = std::make_unique<Filter>();
    f->spec = spec;
    Filter* fp = f.get();
    f->timer = event::Timer(base_, [this, fp] {
      fail(*fp, fp->state == Filter::State::Connecting     ? "connect timeout"
                : fp->state == Filter::State::Negotiating ? "timeout while negotiating"
                                                          : "timeout waiting for a reply");
    });
    filters_.push_back(std::move(f));
  }
}

MilterSession::~MilterSession() {
  // Never inside a filter's own callback (the session that owns this is deleted from
  // the loop), so the connections go with their filters, not through defer_delete.
  for (auto& f : filters_)
    if (f->bev && f->state == Filter::State::Ready) f->bev.send_now(milter::encode(Cmd::Quit));
}

// ---- stages ---------------------------------------------------------------------------
void MilterSession::connect(const std::string& hostname, char family, uint16_t port, const std::string& addr,
                            Done done) {
  connect_host_ = hostname;
  connect_family_ = family;
  connect_port_ = port;
  connect_addr_ = addr;
  run(Kind::Connect, std::move(done));
}

void MilterSession::helo(const std::string& name, Done done) {
  helo_ = name;
  run(Kind::Helo, std::move(done));
}

void MilterSession::mail(std::vector<std::string> args, Done done) {
  args_ = std::move(args);
  discard_ = false;
  quarantine_default_ = false;
  for (auto& f : filters_) f->skip_message = false;
  run(Kind::Mail, std::move(done));
}

void MilterSession::rcpt(std::vector<std::string> args, Done done) {
  args_ = std::move(args);
  run(Kind::Rcpt, std::move(done));
}

void MilterSession::data(Done done) { run(Kind::Data, std::move(done)); }

void MilterSession::message(MilterMessage* msg, Done done) {
  msg_ = msg;
  edits_ = 0;
  edit_bytes_ = 0;
  step_ = MsgStep::Headers;
  header_index_ = 0;
  body_pos_ = 0;
  body_replaced_here_ = false;
  run(Kind::Message, std::move(done));
}

void MilterSession::abort() {
  for (auto& f : filters_) {
    if (f->in_transaction && (f->state == Filter::State::Ready) && f->bev)
      f->bev.write(milter::encode(Cmd::Abort));
    f->in_transaction = false;
  }
}

void MilterSession::quit() {
  for (auto& f : filters_) {
    if (f->bev && f->state == Filter::State::Ready) f->bev.send_now(milter::encode(Cmd::Quit));
    close(*f);
    f->state = Filter::State::Closed;
  }
  running_ = false;
}

void MilterSession::run(Kind kind, Done done) {
  kind_ = kind;
  done_ = std::move(done);
  index_ = 0;
  running_ = true;
  next();
}

// Runs the stage from filter index_ on, until a filter must be waited for or all have
// had it. Reentrant calls (a callback that runs inside a send) only note that the
// outer loop must look again.
void MilterSession::next() {
  if (in_next_) {
    again_ = true;
    return;
  }
  in_next_ = true;
  do {
    again_ = false;
    step();
  } while (again_ && running_);
  in_next_ = false;
}

void MilterSession::advance() {
  ++index_;
  step_ = MsgStep::Headers;
  header_index_ = 0;
  body_pos_ = 0;
  body_replaced_here_ = false;
}

void MilterSession::step() {
  while (running_) {
    if (index_ >= filters_.size()) {
      MilterVerdict v;
      if (kind_ == Kind::Message && discard_) {
        v.kind = MilterVerdict::Kind::Discard;
        v.why = "milter triggers DISCARD action";
      }
      finish(std::move(v));
      return;
    }
    Filter& f = *filters_[index_];
    switch (f.state) {
      case Filter::State::Failed:
        if (!default_action(f)) return;
        advance();
        continue;
      case Filter::State::Closed:
        if (kind_ != Kind::Connect) {  // never opened (the session began without it)
          advance();
          continue;
        }
        open(f);
        if (f.state == Filter::State::Connecting || f.state == Filter::State::Negotiating) return;
        continue;
      case Filter::State::Connecting:
      case Filter::State::Negotiating:
      case Filter::State::Waiting:
        return;
      case Filter::State::Ready:
        break;
    }
    if (f.throttled) return;
    if (!participates(f)) {
      advance();
      continue;
    }
    bool wait = kind_ == Kind::Message ? send_message_steps(f) : send_stage(f);
    if (f.state == Filter::State::Failed) continue;
    if (wait) return;
    advance();
  }
}

void MilterSession::finish(MilterVerdict v) {
  running_ = false;
  if (kind_ == Kind::Message) {
    // The message is over: filters not yet at its end hear that it went away.
    abort();
    msg_ = nullptr;
  }
  if (kind_ == Kind::Mail && v.kind != MilterVerdict::Kind::Continue) abort();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(v);
}

bool MilterSession::participates(const Filter& f) const {
  if (f.skip_session) return false;
  if (kind_ == Kind::Connect || kind_ == Kind::Helo) return true;
  return !f.skip_message;
}

// What a filter that failed costs this stage; true when the stage goes on.
bool MilterSession::default_action(Filter& f) {
  const std::string& a = cfg_.default_action;
  if (a == "accept") return true;
  if (a == "quarantine") {
    quarantine_default_ = true;
    return true;
  }
  MilterVerdict v;
  v.filter = f.spec;
  if (a == "reject") {
    v.kind = MilterVerdict::Kind::Reject;
    v.reply = reject_reply();
  } else {
    v.kind = MilterVerdict::Kind::Tempfail;
    v.reply = tempfail_reply();
  }
  v.why = v.reply.summary();
  finish(std::move(v));
  return false;
}

void MilterSession::send_macros(Filter& f, Stage stage, Cmd cmd) {
  auto s = static_cast<uint32_t>(stage);
  const auto& names = f.neg.has_symlist[s] ? f.neg.symlist[s] : cfg_.macros[s];
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& name : names) {
    std::string key = name;
    if (key.size() > 2 && key.front() == '{' && key.back() == '}') key = key.substr(1, key.size() - 2);
    if (auto v = macros_(key)) values.emplace_back(name, *v);
  }
  if (!values.empty()) f.bev.write(milter::macros(cmd, values));
}

bool MilterSession::send_stage(Filter& f) {
  uint32_t p = f.neg.protocol;
  int64_t t = cfg_.command_timeout_ms;
  switch (kind_) {
    case Kind::Connect:
      if (p & milter::kNoConnect) return false;
      send_macros(f, Stage::Connect, Cmd::Connect);
      f.bev.write(milter::connect(connect_host_, connect_family_, connect_port_, connect_addr_));
      if (p & milter::kNrConn) return false;
      break;
    case Kind::Helo:
      if (p & milter::kNoHelo) return false;
      send_macros(f, Stage::Helo, Cmd::Helo);
      f.bev.write(milter::helo(helo_));
      if (p & milter::kNrHelo) return false;
      break;
    case Kind::Mail:
      f.in_transaction = true;
      if (p & milter::kNoMail) return false;
      send_macros(f, Stage::EnvFrom, Cmd::Mail);
      f.bev.write(milter::mail(args_));
      if (p & milter::kNrMail) return false;
      break;
    case Kind::Rcpt:
      if (p & milter::kNoRcpt) return false;
      send_macros(f, Stage::EnvRcpt, Cmd::Rcpt);
      f.bev.write(milter::rcpt(args_));
      if (p & milter::kNrRcpt) return false;
      break;
    case Kind::Data:
      // SMFIC_DATA is a version 4 command; older filters do not know it.
      if (!(offer_.protocol & milter::kNoData) || (p & milter::kNoData)) return false;
      send_macros(f, Stage::Data, Cmd::Data);
      f.bev.write(milter::encode(Cmd::Data));
      if (p & milter::kNrData) return false;
      break;
    case Kind::Message:
      return false;
  }
  expect(f, t);
  return true;
}

// One filter's share of the message: each header field, the end of the header, the
// body in chunks, the end of the message. Position is kept in step_, header_index_ and
// body_pos_, advanced before a reply is awaited, so a Continue only calls next().
bool MilterSession::send_message_steps(Filter& f) {
  uint32_t p = f.neg.protocol;
  int64_t t = cfg_.content_timeout_ms;
  for (;;) {
    if (f.bev.output_length() > kMaxOutput) {
      f.throttled = true;
      f.timer.start(t);
      return true;
    }
    switch (step_) {
      case MsgStep::Headers: {
        const auto& fields = msg_->headers.fields();
        if ((p & milter::kNoHdrs) || header_index_ >= fields.size()) {
          step_ = MsgStep::Eoh;
          continue;
        }
        const auto& field = fields[header_index_++];
        f.bev.write(milter::header(field.name, milter::HeaderList::value_for_filter(field, f.lead_space())));
        if (p & milter::kNrHdr) continue;
        expect(f, t);
        return true;
      }
      case MsgStep::Eoh:
        step_ = MsgStep::Body;
        if (p & milter::kNoEoh) continue;
        send_macros(f, Stage::Eoh, Cmd::Eoh);
        f.bev.write(milter::encode(Cmd::Eoh));
        if (p & milter::kNrEoh) continue;
        expect(f, t);
        return true;
      case MsgStep::Body: {
        if (p & milter::kNoBody) {
          step_ = MsgStep::Eob;
          continue;
        }
        std::string chunk;
        if (msg_->body) {
          if (body_pos_ < msg_->body->size()) chunk = msg_->body->substr(body_pos_, milter::kChunkSize);
        } else {
          uint64_t start = msg_->body_start + body_pos_;
          if (start < msg_->length) {
            chunk.resize(static_cast<size_t>(std::min<uint64_t>(milter::kChunkSize, msg_->length - start)));
            ssize_t n = ::pread(msg_->fd, chunk.data(), chunk.size(), static_cast<off_t>(msg_->offset + start));
            if (n <= 0) {
              log::warn("milter %s: queue file read: %s", f.spec.c_str(), n < 0 ? std::strerror(errno) : "short file");
              MilterVerdict v;
              v.kind = MilterVerdict::Kind::Tempfail;
              v.reply = smtp::reply(451, "4.3.0", "Error: queue file read error");
              v.why = v.reply.summary();
              finish(std::move(v));
              return true;
            }
            chunk.resize(static_cast<size_t>(n));
          }
        }
        if (chunk.empty()) {
          step_ = MsgStep::Eob;
          continue;
        }
        body_pos_ += chunk.size();
        f.bev.write(milter::body(chunk));
        if (p & milter::kNrBody) continue;
        expect(f, t);
        return true;
      }
      case MsgStep::Eob:
        step_ = MsgStep::Final;
        body_replaced_here_ = false;
        send_macros(f, Stage::Eom, Cmd::BodyEob);
        f.bev.write(milter::encode(Cmd::BodyEob));
        expect(f, t);
        return true;
      case MsgStep::Final:
        return true;
    }
  }
}

void MilterSession::expect(Filter& f, int64_t timeout_ms) {
  f.state = Filter::State::Waiting;
  f.timeout_ms = timeout_ms;
  f.timer.start(timeout_ms);
}

// ---- the connection ---------------------------------------------------------------------
void MilterSession::open(Filter& f) {
  sockaddr_storage ss;
  socklen_t len = 0;
  std::string why;
  if (!parse_spec(f.spec, &ss, &len, &why)) return fail(f, why);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(f, std::string("socket: ") + std::strerror(errno));
  f.bev = event::BufferEvent(base_, UniqueFd(fd));
  Filter* fp = &f;
  f.bev.set_callbacks([this, fp] { on_read(*fp); },
                      [this, fp] {
                        if (fp->throttled && fp->bev.output_length() == 0) {
                          fp->throttled = false;
                          fp->timer.stop();
                          next();
                        }
                      },
                      [this, fp](short what) { on_event(*fp, what); });
  f.bev.enable(EV_READ | EV_WRITE);
  f.state = Filter::State::Connecting;
  f.timer.start(cfg_.connect_timeout_ms);
  if (bufferevent_socket_connect(f.bev.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<int>(len)) != 0)
    fail(f, std::string("connect: ") + std::strerror(errno));
}

void MilterSession::on_event(Filter& f, short what) {
  if (what & BEV_EVENT_CONNECTED) {
    if (f.state != Filter::State::Connecting) return;
    f.state = Filter::State::Negotiating;
    f.bev.write(milter::optneg(offer_));
    f.timer.start(cfg_.connect_timeout_ms);
    return;
  }
  if (what & BEV_EVENT_EOF) return fail(f, "connection closed by the filter");
  if (what & BEV_EVENT_ERROR) {
    int e = EVUTIL_SOCKET_ERROR();
    return fail(f, f.state == Filter::State::Connecting ? std::string("connect: ") + std::strerror(e)
                                                        : std::string("connection error: ") + std::strerror(e));
  }
}

void MilterSession::on_read(Filter& f) {
  std::string data = f.bev.read(256 * 1024);
  size_t pos = 0;
  while (pos < data.size() && f.bev) {
    size_t used = 0;
    milter::Packet p;
    auto st = f.framer.feed(std::string_view(data).substr(pos), &used, &p);
    pos += used;
    if (st == milter::Framer::Status::Bad) return fail(f, "malformed packet: " + f.framer.error());
    if (st == milter::Framer::Status::Packet) on_packet(f, p);
    if (f.state == Filter::State::Failed || f.state == Filter::State::Closed) return;
  }
  // More may be buffered than one read took.
  if (f.bev && f.bev.input_length() > 0) on_read(f);
}

void MilterSession::negotiated(Filter& f, milter::Packet& p) {
  auto n = milter::decode_optneg(p, offer_);
  if (!n) return fail(f, n.error());
  f.timer.stop();
  f.neg = std::move(n.value());
  f.state = Filter::State::Ready;
  next();
}

void MilterSession::on_packet(Filter& f, milter::Packet& p) {
  if (f.state == Filter::State::Negotiating) return negotiated(f, p);
  if (f.state != Filter::State::Waiting)
    return fail(f, std::string("unexpected ") + milter::rep_name(p.code) + " while no reply was due");
  auto r = milter::decode_reply(p);
  if (!r) return fail(f, r.error());
  if (r->type == Rep::Progress) {
    f.timer.start(f.timeout_ms);
    return;
  }
  if (kind_ == Kind::Message) return on_message_reply(f, *r);
  f.timer.stop();
  f.state = Filter::State::Ready;
  MilterVerdict v;
  v.filter = f.spec;
  switch (r->type) {
    case Rep::Continue:
      advance();
      return next();
    case Rep::Accept:
      if (kind_ == Kind::Connect || kind_ == Kind::Helo) f.skip_session = true;
      else f.skip_message = true;
      advance();
      return next();
    case Rep::Discard:
      // Before the message a discard applies to the message, as in Postfix; a filter
      // that discards a session it has not seen a transaction of only leaves it.
      if (kind_ == Kind::Connect || kind_ == Kind::Helo) {
        f.skip_session = true;
      } else {
        discard_ = true;
        f.skip_message = true;
      }
      advance();
      return next();
    case Rep::Reject:
      v.kind = MilterVerdict::Kind::Reject;
      v.reply = reject_reply();
      break;
    case Rep::Tempfail:
      v.kind = MilterVerdict::Kind::Tempfail;
      v.reply = tempfail_reply();
      break;
    case Rep::ReplyCode:
      v.reply = reply_from_text(r->text);
      v.kind = v.reply.code >= 500 ? MilterVerdict::Kind::Reject : MilterVerdict::Kind::Tempfail;
      break;
    default:
      return fail(f, std::string("unexpected ") + milter::rep_name(p.code));
  }
  v.why = v.reply.summary();
  if (kind_ == Kind::Mail) f.in_transaction = false;
  finish(std::move(v));
}

void MilterSession::on_message_reply(Filter& f, const milter::Reply& r) {
  bool at_end = step_ == MsgStep::Final;
  auto need = [&](uint32_t action) {
    if (!at_end) {
      fail(f, std::string(milter::rep_name(static_cast<char>(r.type))) + " before the end of the message");
      return false;
    }
    if (!(f.neg.actions & action)) {
      fail(f, std::string(milter::rep_name(static_cast<char>(r.type))) + " without having negotiated it");
      return false;
    }
    return true;
  };
  bool lead = f.lead_space();
  bool edit = r.type == Rep::AddHeader || r.type == Rep::InsHeader || r.type == Rep::ChgHeader ||
              r.type == Rep::ChgFrom || r.type == Rep::AddRcpt || r.type == Rep::AddRcptPar ||
              r.type == Rep::DelRcpt || r.type == Rep::Quarantine;
  if (edit) {
    edit_bytes_ += r.name.size() + r.value.size() + r.text.size() + r.args.size();
    if (++edits_ > kMaxEdits || edit_bytes_ > kMaxEditBytes) return fail(f, "too many changes to one message");
  }
  switch (r.type) {
    case Rep::AddHeader:
      if (!need(milter::kActAddHdrs)) return;
      msg_->headers.add(r.name, r.value, lead);
      msg_->headers_changed = true;
      return;
    case Rep::InsHeader:
      if (!need(milter::kActAddHdrs)) return;
      msg_->headers.insert(r.index, r.name, r.value, lead);
      msg_->headers_changed = true;
      return;
    case Rep::ChgHeader:
      if (!need(milter::kActChgHdrs)) return;
      msg_->headers.change(r.name, r.index, r.value, lead);
      msg_->headers_changed = true;
      return;
    case Rep::ReplBody: {
      if (!need(milter::kActChgBody)) return;
      if (!body_replaced_here_) {
        msg_->body = std::string();
        body_replaced_here_ = true;
      }
      if (msg_->body->size() + r.value.size() > cfg_.max_body) return fail(f, "replacement body too large");
      // Lines end in CRLF in the queue file; a filter may send bare LF.
      for (size_t i = 0; i < r.value.size(); ++i) {
        char c = r.value[i];
        if (c == '\n' && (msg_->body->empty() || msg_->body->back() != '\r')) *msg_->body += '\r';
        *msg_->body += c;
      }
      return;
    }
    case Rep::ChgFrom:
      if (!need(milter::kActChgFrom)) return;
      msg_->sender = strip_brackets(r.text);
      return;
    case Rep::AddRcpt:
    case Rep::AddRcptPar:
      if (!need(r.type == Rep::AddRcpt ? milter::kActAddRcpt : milter::kActAddRcptPar)) return;
      msg_->added_rcpts.push_back(strip_brackets(r.text));
      return;
    case Rep::DelRcpt:
      if (!need(milter::kActDelRcpt)) return;
      msg_->deleted_rcpts.push_back(strip_brackets(r.text));
      return;
    case Rep::Quarantine:
      if (!need(milter::kActQuarantine)) return;
      msg_->quarantine = str::printable(r.text, 200);
      return;
    default:
      break;
  }
  f.timer.stop();
  f.state = Filter::State::Ready;
  MilterVerdict v;
  v.filter = f.spec;
  switch (r.type) {
    case Rep::Continue:
      if (at_end) {
        f.in_transaction = false;
        advance();
      }
      return next();
    case Rep::Skip:
      if (step_ != MsgStep::Body || !(f.neg.protocol & milter::kSkip)) return fail(f, "SMFIR_SKIP out of place");
      step_ = MsgStep::Eob;
      return next();
    case Rep::Accept:
      f.skip_message = true;
      f.in_transaction = false;
      advance();
      return next();
    case Rep::Discard:
      f.in_transaction = false;
      v.kind = MilterVerdict::Kind::Discard;
      v.why = "milter triggers DISCARD action";
      return finish(std::move(v));
    case Rep::Reject:
      v.kind = MilterVerdict::Kind::Reject;
      v.reply = reject_reply();
      break;
    case Rep::Tempfail:
      v.kind = MilterVerdict::Kind::Tempfail;
      v.reply = tempfail_reply();
      break;
    case Rep::ReplyCode:
      v.reply = reply_from_text(r.text);
      v.kind = v.reply.code >= 500 ? MilterVerdict::Kind::Reject : MilterVerdict::Kind::Tempfail;
      break;
    default:
      return fail(f, std::string("unexpected ") + milter::rep_name(static_cast<char>(r.type)) + " in the message");
  }
  f.in_transaction = false;
  v.why = v.reply.summary();
  finish(std::move(v));
}

void MilterSession::fail(Filter& f, const std::string& why) {
  if (f.state == Filter::State::Failed) return;
  log::warn("milter %s: %s", f.spec.c_str(), str::printable(why, 300).c_str());
  bool current = running_ && index_ < filters_.size() && filters_[index_].get() == &f;
  close(f);
  f.state = Filter::State::Failed;
  f.in_transaction = false;
  f.throttled = false;
  if (current) next();
}

void MilterSession::close(Filter& f) {
  f.timer.stop();
  if (!f.bev) return;
  f.bev.disable(EV_READ | EV_WRITE);
  // Not destroyed here: this may run inside the connection's own callback.
  base_.defer_delete(std::make_unique<event::BufferEvent>(std::move(f.bev)));
  f.bev = event::BufferEvent();
}

}  // namespace postilion::milter
