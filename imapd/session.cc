// imapd/session.cc - credential check, privilege switch, the user's folders, and the
// authenticated session.
#include "imapd/session.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "imapd/login.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/imap/response.h"
#include "lib/ipc/auth_client.h"
#include "lib/ipc/message.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/mailbox/folders.h"
#include "lib/mailbox/maildir.h"
#include "lib/service/mail_session.h"
#include "lib/service/privs.h"

namespace postilion::imapd {
namespace {

constexpr int kSessionCallMs = 120000;  // the login process's side of the handoff

Status reply(int fd, const char* status, const std::string& line = "") {
  ipc::Message m;
  m.set("status", status);
  if (!line.empty()) m.set("reply", line);
  return ipc::write_message(fd, m, 10000);
}

// Creates the Maildir when the user has none yet, and the special-use folders (as the
// user). Only a missing INBOX fails the login: special-use folders that cannot be made
// (a full file system, a quota) are a warning, and the user still reads what is there.
Status ensure_folders(const std::string& md, const std::string& label) {
  if (auto st = mailbox::make_maildir(md); !st) return st;
  if (auto st = mailbox::ensure_special_folders(md); !st)
    log::warn("%s: special-use folders not made: %s", label.c_str(), st.error().c_str());
  return {};
}

// login_pid: the login process; reaped here once it has handed the connection over
// (then set to 0), so no zombie stays beside a long session.
int serve(const Settings& s, int fd, const std::string& ip, pid_t* login_pid) {
  for (;;) {
    auto req = ipc::read_message(fd, static_cast<int>(s.timeout_ms + 30000), 8192);
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
                                        static_cast<int>(s.auth_timeout_ms), "imapd", "LOGIN", *req, ip, &status);
    if (!who) {
      if (!reply(fd, status)) return 0;
      continue;
    }
    std::string tag(req->get_or("tag", "*"));
    std::string label = str::format("user=<%s>, rip=%s", str::printable(who->user, 100).c_str(), ip.c_str());
    // From here on this process is the mailbox owner; root is gone for good.
    if (auto st = service::drop_to(who->uid, who->gid); !st) {
      log::error("%s: %s", label.c_str(), st.error().c_str());
      (void)reply(fd, "error");
      return 1;
    }
    if (auto st = ensure_folders(who->maildir, label); !st) {
      log::warn("%s: %s", label.c_str(), st.error().c_str());
      (void)reply(fd, "error");
      return 1;
    }
    log::info("login: %s, method=%s, tls=%s", label.c_str(), who->method.c_str(),
              req->get_or("tls", "0") == "1" ? "yes" : "no");
    if (!reply(fd, "ok",
               imap::tagged(tag, "OK", "CAPABILITY " + capabilities_after_login(s.append_limit), "Logged in")))
      return 0;
    // In clear text the login process hands the client connection over (login.cc
    // hand_off()): its descriptor, then what the client sent behind its login. Over TLS
    // it stays and relays.
    UniqueFd client;
    std::string pending;
    if (req->get_or("tls", "0") != "1") {
      auto got = ipc::recv_fd(fd, kSessionCallMs);
      auto rest = got ? ipc::read_message(fd, kSessionCallMs, 4 * s.line_limit + (256 << 10))
                      : Result<ipc::Message>(got.error());
      if (!rest || rest->get_or("cmd", "") != "handoff" || !rest->get("input")) {
        // ECONNRESET: the client left before its login reply was out (the login
        // process then ends without a handoff).
        if (!rest && rest.error().code() == ECONNRESET) return 0;
        log::warn("%s: login process: %s", label.c_str(), rest ? "no connection handed over" : rest.error().c_str());
        return 1;
      }
      client = std::move(*got);
      int wst = 0;
      while (::waitpid(*login_pid, &wst, 0) < 0 && errno == EINTR) {
      }
      *login_pid = 0;
      pending = std::string(*rest->get("input"));
      // The login process read it in non-blocking mode; this process blocks.
      int fl = ::fcntl(client.get(), F_GETFL);
      if (fl < 0 || ::fcntl(client.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
        log::warn("%s: fcntl: %s", label.c_str(), std::strerror(errno));
        return 1;
      }
    }
    Session session(s, client ? client.get() : fd, who->maildir, label);
    session.feed(pending);
    session.run();
    const auto& st = session.stats();
    log::info("disconnect: %s, fetched=%llu/%llu, stored=%llu, expunged=%llu, appended=%llu, copied=%llu, "
              "read=%llu",
              label.c_str(), static_cast<unsigned long long>(st.fetched),
              static_cast<unsigned long long>(st.fetched_bytes), static_cast<unsigned long long>(st.stored),
              static_cast<unsigned long long>(st.expunged), static_cast<unsigned long long>(st.appended),
              static_cast<unsigned long long>(st.copied), static_cast<unsigned long long>(st.files_read));
    return 0;
  }
}

}  // namespace

int run_session(const Settings& s, const tls::Context* tls, const std::string& client_ip, UniqueFd client) {
  return service::split_session(
      std::move(client), client_ip, s.mail_owner,
      [&](UniqueFd c, UniqueFd session) { return run_login(s, tls, client_ip, std::move(c), std::move(session)); },
      [&](int channel, pid_t* login_pid) { return serve(s, channel, client_ip, login_pid); });
}

}  // namespace postilion::imapd
