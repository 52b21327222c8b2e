// lib/ipc/auth_client.cc - a mailbox login checked with auth(8).
#include "lib/ipc/auth_client.h"

#include "lib/log/log.h"

namespace postilion::ipc {

std::optional<MailboxAccount> check_mailbox_login(const std::string& auth_socket, int timeout_ms,
                                                  std::string_view service, std::string_view default_method,
                                                  const Message& req, const std::string& ip, const char** status) {
  *status = "fail";
  auto user = req.get("user");
  auto password = req.get("password");
  if (!user || !password || user->empty() || user->size() > 255) return std::nullopt;
  Message a;
  a.set("cmd", "auth").set("service", std::string(service)).set("user", std::string(*user))
      .set("password", std::string(*password)).set("client", ip);
  auto r = call(auth_socket, a, timeout_ms);
  if (!r) {
    log::warn("[%s]: auth service: %s", ip.c_str(), r.error().c_str());
    *status = "tempfail";
    return std::nullopt;
  }
  std::string st(r->get_or("status", ""));
  if (st == "fail") return std::nullopt;
  if (st != "ok") {
    if (st != "tempfail") log::warn("[%s]: auth service: malformed reply", ip.c_str());
    *status = "tempfail";
    return std::nullopt;
  }
  auto uid = r->get_int("uid");
  auto gid = r->get_int("gid");
  std::string md(r->get_or("maildir", ""));
  if (!uid || !gid || *uid < 0 || *gid < 0 || *uid > 0x7fffffff || *gid > 0x7fffffff || md.empty() ||
      md[0] != '/') {
    log::warn("[%s]: auth service: reply without a usable uid/gid/maildir", ip.c_str());
    *status = "tempfail";
    return std::nullopt;
  }
  while (md.size() > 1 && md.back() == '/') md.pop_back();
  return MailboxAccount{std::string(r->get_or("user", *user)), md, std::string(req.get_or("method", default_method)),
                        static_cast<uid_t>(*uid), static_cast<gid_t>(*gid)};
}

}  // namespace postilion::ipc
