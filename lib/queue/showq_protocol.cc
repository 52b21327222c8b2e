// lib/queue/showq_protocol.cc - public/showq requests and replies, both sides.
#include "lib/queue/showq_protocol.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/protocols.h"

namespace postilion::queue {

Parsed<ShowqRequest> parse_showq_request(const ipc::Message& m) {
  if (m.attrs().size() != 1 || m.attrs()[0].first != "cmd")
    return Parsed<ShowqRequest>::bad("a request is exactly one attribute, cmd");
  const std::string& cmd = m.attrs()[0].second;
  if (cmd == "list") return ShowqRequest::List;
  if (cmd == "flush") return ShowqRequest::Flush;
  return Parsed<ShowqRequest>::bad("unknown command " + str::printable(cmd, 40));
}

std::vector<ipc::Message> showq_listing_reply(std::string_view text) {
  std::vector<ipc::Message> out;
  for (size_t at = 0; at < text.size(); at += ipc::proto::kShowqChunk) {
    ipc::Message part;
    part.set("status", "part").set("text", std::string(text.substr(at, ipc::proto::kShowqChunk)));
    out.push_back(std::move(part));
  }
  ipc::Message end;
  end.set("status", "ok");
  out.push_back(std::move(end));
  return out;
}

ipc::Message showq_error_reply(std::string_view text) {
  ipc::Message m;
  m.set("status", "error").set("text", std::string(text));
  return m;
}

ListingReader::Step ListingReader::take(const ipc::Message& m) {
  if (!error_.empty()) return Step::Failed;
  std::string status = m.get_or("status", "");
  auto fail = [this](std::string why) {
    error_ = why.empty() ? "failed" : std::move(why);
    return Step::Failed;
  };
  if (status == "ok") return Step::Done;
  if (status == "error") return fail(str::printable(m.get_or("text", "showq failed"), 200));
  if (status != "part") return fail("bad reply from showq");
  auto text = m.get("text");
  if (!text || text->size() > ipc::proto::kShowqChunk) return fail("bad reply from showq");
  if (text_.size() + text->size() > kShowqMaxListing) return fail("queue listing too large");
  text_.append(*text);
  return Step::More;
}

namespace {

// Connects and sends one request, both within the deadline (file::monotonic_ms).
Result<UniqueFd> send_request(const std::string& socket_path, const char* cmd, int64_t deadline) {
  auto fd = ipc::connect_unix(socket_path, static_cast<int>(std::max<int64_t>(1, deadline - file::monotonic_ms())));
  if (!fd) return fd.error();
  ipc::Message req;
  req.set("cmd", cmd);
  Status s = ipc::write_message(fd->get(), req, static_cast<int>(std::max<int64_t>(1, deadline - file::monotonic_ms())));
  if (!s) return s.error();
  return std::move(*fd);
}

// Reads replies one frame at a time. ipc::read_message would lose the bytes of the
// next frame that arrived with this one, so the decoder lives across frames.
class ReplyReader {
 public:
  // A part frame holds one chunk plus a few bytes of names and lengths.
  ReplyReader(int fd, int64_t deadline) : fd_(fd), deadline_(deadline), decoder_(ipc::proto::kShowqChunk + 1024) {}

  Result<ipc::Message> next() {
    char buf[16384];
    for (;;) {
      ipc::Message m;
      std::string why;
      switch (decoder_.next(&m, &why)) {
        case ipc::Decoder::Status::Ready: return m;
        case ipc::Decoder::Status::Error: return Error("bad reply from showq: " + why, EPROTO).set_permanent();
        case ipc::Decoder::Status::NeedMore: break;
      }
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      if (n == 0) return Error("showq ended the connection", ECONNRESET);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Error::from_errno("read from showq");
      int64_t left = deadline_ - file::monotonic_ms();
      if (left <= 0) return Error("showq: timed out", ETIMEDOUT);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return Error::from_errno("poll");
    }
  }

 private:
  int fd_;
  int64_t deadline_;
  ipc::Decoder decoder_;
};

}  // namespace

Result<std::string> showq_list(const std::string& socket_path, int timeout_ms) {
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  auto fd = send_request(socket_path, "list", deadline);
  if (!fd) return fd.error();
  ListingReader reader;
  ReplyReader replies(fd->get(), deadline);
  for (;;) {
    auto m = replies.next();
    if (!m) return m.error();
    switch (reader.take(*m)) {
      case ListingReader::Step::More: continue;
      case ListingReader::Step::Done: return reader.text();
      case ListingReader::Step::Failed: return Error(reader.error()).set_permanent();
    }
  }
}

Status showq_flush(const std::string& socket_path, int timeout_ms) {
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  auto fd = send_request(socket_path, "flush", deadline);
  if (!fd) return fd.error();
  auto m = ReplyReader(fd->get(), deadline).next();
  if (!m) return m.error();
  std::string status = m->get_or("status", "");
  if (status == "ok") return {};
  if (status == "error") return Error(str::printable(m->get_or("text", "showq failed"), 200)).set_permanent();
  return Error("bad reply from showq").set_permanent();
}

}  // namespace postilion::queue
