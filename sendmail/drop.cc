// sendmail/drop.cc - sendmail -> postdrop hand-over and the maildrop file.
#include "sendmail/drop.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/message.h"
#include "lib/mail/address.h"
#include "lib/mail/dsn.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/spool_store.h"

namespace postilion::sendmail {

Status write_envelope(int fd, const Envelope& e) {
  ipc::Message m;
  m.set("sender", e.sender);
  if (!e.envid.empty()) m.set("envid", e.envid);
  if (!e.ret.empty()) m.set("ret", e.ret);
  for (const auto& r : e.recipients) {
    m.set("rcpt", r.address);
    m.set("orcpt", r.orcpt);
    m.set("notify", static_cast<int64_t>(r.notify));
  }
  // A pipe, not a socket: plain write(2) of the frame.
  return file::write_all(fd, m.encode());
}

namespace {

// maildrop/ is mode 1730: postdrop's group may create files but not read the folder,
// so the folder cannot be opened to fsync it. The rename is made durable instead by
// syncfs() through the renamed file itself (one sync of that file system).
class DropOps : public queue::FileOps {
 public:
  Result<UniqueFd> open(const std::string& p, int flags, mode_t mode) override { return sys().open(p, flags, mode); }
  Status write(int fd, std::string_view d) override { return sys().write(fd, d); }
  Status pwrite(int fd, std::string_view d, off_t off) override { return sys().pwrite(fd, d, off); }
  Status fsync(int fd) override { return sys().fsync(fd); }
  Status rename(const std::string& from, const std::string& to) override {
    Status s = sys().rename(from, to);
    if (s) last_ = to;
    return s;
  }
  Status fsync_dir(const std::string& dir) override {
    Status s = sys().fsync_dir(dir);
    if (s || s.error().code() != EACCES || last_.empty()) return s;
    auto fd = file::open(last_, O_RDONLY | O_NOFOLLOW);
    if (!fd) return fd.error();
    if (::syncfs(fd->get()) != 0) return Error::from_errno("syncfs " + dir);
    return {};
  }
  Status unlink(const std::string& p) override { return sys().unlink(p); }

 private:
  static queue::FileOps& sys() { return queue::system_ops(); }
  std::string last_;
};

// Reads exactly one frame from a pipe, byte-exact: the content follows it.
Result<ipc::Message> read_frame(int fd, size_t max_frame) {
  unsigned char len[4];
  for (size_t got = 0; got < 4;) {
    ssize_t n = ::read(fd, len + got, 4 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error("no envelope").set_permanent();
    got += n;
  }
  size_t body_len = (size_t(len[0]) << 24) | (size_t(len[1]) << 16) | (size_t(len[2]) << 8) | len[3];
  if (body_len > max_frame) return Error("envelope too large").set_permanent();
  std::string body(body_len, '\0');
  for (size_t got = 0; got < body_len;) {
    ssize_t n = ::read(fd, body.data() + got, body_len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error("truncated envelope").set_permanent();
    got += n;
  }
  auto m = ipc::Message::decode_body(body);
  if (!m) return Error("bad envelope: " + m.error()).set_permanent();
  return std::move(*m);
}

}  // namespace

Result<std::string> drop(int in_fd, const std::string& maildrop_dir, unsigned uid, uint64_t max_size) {
  auto env = read_frame(in_fd, 1 << 22);
  if (!env) return Error("cannot read envelope: " + env.error().str()).set_permanent();
  const ipc::Message& m = *env;
  auto bad = [](const std::string& why) { return Error(why).set_permanent(); };
  std::string sender = m.get_or("sender", "");
  if (!mail::parse_address(sender)) return bad("bad sender address");
  auto rcpts = m.get_all("rcpt");
  auto orcpts = m.get_all("orcpt");
  auto notifies = m.get_all("notify");
  if (rcpts.empty()) return bad("no recipients");
  if (rcpts.size() != orcpts.size() || rcpts.size() != notifies.size()) return bad("malformed recipient list");
  std::string ret = m.get_or("ret", "");
  if (!ret.empty() && !mail::parse_ret(ret)) return bad("bad RET value");

  static DropOps ops;
  auto w = queue::QueueWriter::create(maildrop_dir, ops);
  if (!w) return w.error();
  auto& qw = **w;
  if (Status s = qw.sender(sender); !s) return s.error();
  if (Status s = qw.attribute("uid", std::to_string(uid)); !s) return s.error();
  if (auto envid = m.get("envid"))
    if (Status s = qw.attribute("envid", std::string(*envid)); !s) return s.error();
  if (!ret.empty())
    if (Status s = qw.attribute("ret", str::upper(ret)); !s) return s.error();
  for (size_t i = 0; i < rcpts.size(); ++i) {
    auto a = mail::parse_address(rcpts[i]);
    auto n = str::parse_uint(notifies[i]);
    if (!a || a->local.empty() || !n || *n > 15) return bad("bad recipient " + str::printable(rcpts[i], 100));
    std::string orcpt = orcpts[i].empty() ? "" : "rfc822;" + std::string(orcpts[i]);
    if (Status s = qw.recipient(rcpts[i], orcpt, queue::notify_to_queue(static_cast<unsigned>(*n))); !s)
      return s.error();
  }
  char buf[65536];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read message");
    if (n == 0) break;
    total += n;
    if (max_size && total > max_size) return bad("message too large");
    if (Status s = qw.append_content(std::string_view(buf, n)); !s) return s.error();
  }
  // Readable by qmgr (another uid when the instance runs as root); the folder's mode
  // 1730 keeps every other user away from it.
  if (::chmod(qw.temp_path().c_str(), 0644) != 0) return Error::from_errno("chmod " + qw.temp_path());
  return qw.commit();
}

}  // namespace postilion::sendmail
