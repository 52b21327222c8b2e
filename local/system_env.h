// local/system_env.h - the real Environment of local(8): passwd users, the alias table,
// and every mailbox, file and command write done in a child process that has become
// the user (setgid, initgroups, setuid) - so a bug in a write can never act as root.
#pragma once

#include <functional>
#include <string>

#include "lib/base/result.h"
#include "local/deliver.h"

namespace postilion::local {

struct SystemSettings {
  bool root = false;              // the process runs as root and switches users
  uid_t self_uid = 0;             // non-root instances: the only user delivered to
  std::string local_home_root;    // "" = passwd homes; else homes are <root>/<user>
  std::string default_privs = "nobody";
  int command_time_limit = 1000;  // seconds
  int write_time_limit = 300;     // seconds for one mailbox write
  uint64_t mailbox_size_limit = 0;  // largest mbox file (0: no limit)
  std::string command_path = "/usr/bin:/bin";
};

class SystemEnv : public Environment {
 public:
  using AliasLookup = std::function<Result<std::optional<std::string>>(const std::string&)>;
  // Writes text into the Maildir dir (tmp -> new, fsync'd); runs as the user.
  using MaildirWriter = std::function<Status(const std::string& dir, const std::string& text)>;
  using Forwarder = std::function<Outcome(const std::string& sender, const std::string& address,
                                          const std::string& text)>;

  SystemEnv(SystemSettings s, AliasLookup aliases, MaildirWriter maildir, Forwarder forward)
      : s_(std::move(s)), aliases_(std::move(aliases)), maildir_(std::move(maildir)),
        forward_(std::move(forward)) {}

  Result<std::optional<std::string>> alias(const std::string& name) override;
  std::optional<User> user(const std::string& name) override;
  User privileged_default() override;
  Result<std::optional<std::string>> read_owned(const std::string& path, uid_t owner) override;
  Outcome maildir(const User& as, const std::string& dir, const std::string& text) override;
  Outcome mbox(const User& as, const std::string& path, const std::string& text) override;
  Outcome command(const User& as, const std::string& cmd, const std::string& text,
                  const Delivery& d) override;
  Outcome forward(const std::string& sender, const std::string& address, const std::string& text) override;

  // Runs fn in a child that has become `as` (when root), bounded by timeout_s; the
  // child's Outcome comes back over a pipe. A child that dies is a defer.
  Outcome run_as(const User& as, int timeout_s, const std::function<Outcome()>& fn);

 private:
  SystemSettings s_;
  AliasLookup aliases_;
  MaildirWriter maildir_;
  Forwarder forward_;
};

// Maps an Error from a mailbox write to an outcome: permission, quota and space
// problems, and everything else, defer with the reason (the fix may come later).
Outcome write_error(const std::string& what, const Error& e);

}  // namespace postilion::local
