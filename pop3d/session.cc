// pop3d/session.cc - credential check, privilege switch, mailbox lock, TRANSACTION.
#include "pop3d/session.h"

#include <poll.h>
#include <unistd.h>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/ipc/auth_client.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/mailbox/maildir.h"
#include "lib/pop3/command.h"
#include "lib/pop3/reply.h"
#include "lib/service/mail_session.h"
#include "lib/service/privs.h"
#include "pop3d/login.h"
#include "pop3d/transaction.h"

namespace postilion::pop3d {
namespace {

// Grace on top of the client idle timeout: the login process enforces the real one.
constexpr int64_t kGraceMs = 30000;

Status reply(int fd, const char* status, const std::string& line = "") {
  ipc::Message m;
  m.set("status", status);
  if (!line.empty()) m.set("reply", line);
  return ipc::write_message(fd, m, 10000);
}

// Reads command lines from the relay and answers them until QUIT, EOF or timeout.
void transaction_loop(const Settings& s, int fd, Transaction& t, const std::string& label) {
  pop3::LineReader lines(s.line_limit);
  std::string in;
  int64_t errors = 0;
  char buf[16384];
  for (;;) {
    // Answer every complete line already here (clients may pipeline, RFC 2449).
    for (;;) {
      size_t used = 0;
      std::string_view line;
      auto st = lines.next(in, &used, &line);
      std::string text(st == pop3::LineReader::Status::Line ? line : std::string_view());
      in.erase(0, used);
      if (st == pop3::LineReader::Status::NeedMore) break;
      std::string out;
      bool quit = false;
      if (st == pop3::LineReader::Status::TooLong) {
        out = pop3::err("line too long");
        ++errors;
      } else if (auto cmd = pop3::parse_command(text); !cmd) {
        out = pop3::err(cmd.error());
        ++errors;
      } else {
        out = t.handle(*cmd, &quit);
      }
      if (errors >= s.error_limit) {
        out += pop3::err("too many errors, closing connection");
        quit = true;
        log::warn("%s: too many errors", label.c_str());
      }
      if (auto w = file::write_all(fd, out); !w) return;
      if (quit) return;
    }
    struct pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(s.timeout_ms + kGraceMs));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;  // the client went away: nothing is deleted
    in.append(buf, static_cast<size_t>(got));
  }
}

int serve(const Settings& s, int fd, const std::string& ip) {
  for (;;) {
    auto req = ipc::read_message(fd, static_cast<int>(s.timeout_ms + kGraceMs), 8192);
    if (!req) {
      if (req.error().code() != ECONNRESET) log::warn("[%s]: login process: %s", ip.c_str(), req.error().c_str());
      return 0;
    }
    if (req->get_or("cmd", "") != "login") {
      log::warn("[%s]: login process sent garbage; dropped", ip.c_str());
      return 1;
    }
    const char* status = "fail";
    auto who = ipc::check_mailbox_login(file::join(s.queue_directory, ipc::proto::kAuthSocket),
                                        static_cast<int>(s.auth_timeout_ms), "pop3d", "USER", *req, ip, &status);
    if (!who) {
      if (!reply(fd, status)) return 0;
      continue;
    }
    std::string label = str::format("user=<%s>, rip=%s", str::printable(who->user, 100).c_str(), ip.c_str());
    // From here on this process is the mailbox owner; root is gone for good.
    if (auto st = service::drop_to(who->uid, who->gid); !st) {
      log::error("%s: %s", label.c_str(), st.error().c_str());
      (void)reply(fd, "error");
      return 1;
    }
    // The Maildir is made when the user has none yet (as the user).
    auto md_ok = mailbox::make_maildir(who->maildir);
    auto box = md_ok ? mailbox::Mailbox::open(who->maildir) : Result<mailbox::Mailbox>(md_ok.error());
    if (!box) {
      log::warn("%s: %s", label.c_str(), box.error().c_str());
      (void)reply(fd, "error");
      return 1;
    }
    // Held until the session ends (pop3d_lock_session); without it, sessions share the
    // mailbox through its index.
    UniqueFd session_lock;
    if (s.lock_session) {
      auto lock = mailbox::lock_session(who->maildir, "pop3");
      if (!lock) {
        bool busy = lock.error().code() == EWOULDBLOCK;
        log::info("%s: %s", label.c_str(), busy ? "mailbox in use" : lock.error().c_str());
        (void)reply(fd, busy ? "inuse" : "error");
        return 0;
      }
      session_lock = std::move(*lock);
    }
    if (auto ch = box->refresh(); !ch) {
      log::warn("%s: %s", label.c_str(), ch.error().c_str());
      (void)reply(fd, "error");
      return 1;
    }
    Transaction t(std::move(*box), s.message_size_limit);
    log::info("login: %s, method=%s, tls=%s, messages=%zu", label.c_str(), who->method.c_str(),
              req->get_or("tls", "0") == "1" ? "yes" : "no", t.count());
    if (!reply(fd, "ok",
               pop3::ok(str::format("logged in, %zu messages (%llu octets)", t.count(),
                                    static_cast<unsigned long long>(t.octets())))))
      return 0;
    transaction_loop(s, fd, t, label);
    const auto& st = t.stats();
    log::info("disconnect: %s, top=%llu, retr=%llu/%llu, del=%llu, size=%llu", label.c_str(),
              static_cast<unsigned long long>(st.top), static_cast<unsigned long long>(st.retr),
              static_cast<unsigned long long>(st.retr_bytes), static_cast<unsigned long long>(st.deleted),
              static_cast<unsigned long long>(t.octets()));
    return 0;
  }
}

}  // namespace

int run_session(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client) {
  return service::split_session(
      std::move(client), client_ip, s.mail_owner,
      [&](UniqueFd c, UniqueFd session) { return run_login(s, tls, client_ip, std::move(c), std::move(session)); },
      [&](int channel, pid_t*) { return serve(s, channel, client_ip); });
}

}  // namespace postilion::pop3d
