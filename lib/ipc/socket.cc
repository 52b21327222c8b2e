// lib/ipc/socket.cc - blocking Unix-socket helpers: connect, one request/one reply,
// descriptor passing. For tools and startup paths; never call inside an event loop.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "lib/base/file.h"
#include "lib/ipc/message.h"

namespace postilion::ipc {
namespace {

// Waits until fd is ready for `events` or the deadline (monotonic ms) passes.
Status wait_fd(int fd, short events, int64_t deadline, const char* what) {
  for (;;) {
    int64_t left = deadline - file::monotonic_ms();
    if (left <= 0) return Error(std::string(what) + ": timed out", ETIMEDOUT);
    struct pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(what);
    }
    if (n > 0) return {};
  }
}

Result<sockaddr_un> unix_addr(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path)
    return Error("socket path too long: " + path, ENAMETOOLONG);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

}  // namespace

Result<UniqueFd> connect_unix(const std::string& path, int timeout_ms) {
  auto sa = unix_addr(path);
  if (!sa) return sa.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::from_errno("socket");
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*sa), sizeof *sa) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EINPROGRESS) {
      // The listener's backlog is full: wait for room, then check the outcome.
      if (auto st = wait_fd(fd.get(), POLLOUT, deadline, ("connect " + path).c_str()); !st) return st.error();
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) break;
      errno = err;
    }
    return Error::from_errno("connect " + path);
  }
  return fd;
}

Status write_message(int fd, const Message& m, int timeout_ms) {
  std::string frame = m.encode();
  std::string_view rest = frame;
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  while (!rest.empty()) {
    ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      rest.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Error::from_errno("ipc write");
    if (auto st = wait_fd(fd, POLLOUT, deadline, "ipc write"); !st) return st;
  }
  return {};
}

Result<Message> read_message(int fd, int timeout_ms, size_t max_frame) {
  Decoder dec(max_frame);
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  char buf[16384];
  for (;;) {
    Message m;
    std::string why;
    switch (dec.next(&m, &why)) {
      case Decoder::Status::Ready:
        return m;
      case Decoder::Status::Error:
        return Error("ipc read: malformed message: " + why, EPROTO).set_permanent();
      case Decoder::Status::NeedMore:
        break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      dec.feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return Error("ipc read: connection closed by peer", ECONNRESET);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Error::from_errno("ipc read");
    if (auto st = wait_fd(fd, POLLIN, deadline, "ipc read"); !st) return st.error();
  }
}

Result<Message> call(const std::string& socket_path, const Message& request, int timeout_ms) {
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  auto fd = connect_unix(socket_path, timeout_ms);
  if (!fd) return fd.error();
  auto left = [&] { return static_cast<int>(std::max<int64_t>(1, deadline - file::monotonic_ms())); };
  if (auto st = write_message(fd->get(), request, left()); !st) return st.error();
  return read_message(fd->get(), left());
}

Status send_fd(int sock, int fd) {
  char byte = 'F';
  struct iovec iov{&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) == 1) return {};
    if (errno != EINTR) return Error::from_errno("send_fd");
  }
}

Result<UniqueFd> recv_fd(int sock, int timeout_ms) {
  int64_t deadline = file::monotonic_ms() + timeout_ms;
  if (auto st = wait_fd(sock, POLLIN, deadline, "recv_fd"); !st) return st.error();
  char byte;
  struct iovec iov{&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int)) * 4] = {};
  struct msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::from_errno("recv_fd");
  if (n == 0) return Error("recv_fd: connection closed by peer", ECONNRESET);
  UniqueFd got;
  // Take ownership of every descriptor that arrived, so extras are closed, not leaked.
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      UniqueFd owned(fd);
      if (!got) got = std::move(owned);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return Error("recv_fd: control data truncated", EPROTO);
  if (!got) return Error("recv_fd: no descriptor in message", EPROTO);
  return got;
}

Result<UniqueFd> listen_unix(const std::string& path, mode_t mode, int backlog) {
  auto sa = unix_addr(path);
  if (!sa) return sa.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*sa), sizeof *sa) < 0)
    return Error::from_errno("bind " + path);
  if (::chmod(path.c_str(), mode) < 0) return Error::from_errno("chmod " + path);
  if (::listen(fd.get(), backlog) < 0) return Error::from_errno("listen " + path);
  return fd;
}

}  // namespace postilion::ipc
