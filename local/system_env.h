// local/system_env.h - the real Environment of local(8): passwd users, the alias table,
// and the writes done as the user. Maildir, mbox and /file writes and the reading of
// ~/.forward and :include: run in this process under the user's effective ids (groups,
// gid, uid switched, and back to root when root is needed again or the delivery ends,
// checked - as Postfix's set_eugid; lib/service/privs.h); only |command deliveries fork
// a child that becomes the user for good (setuid).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/result.h"
#include "lib/service/privs.h"
#include "local/deliver.h"

namespace postilion::local {

struct SystemSettings {
  bool root = false;              // the process runs as root and switches users
  uid_t self_uid = 0;             // non-root instances: the only user delivered to
  std::string local_home_root;    // "" = passwd homes; else homes are <root>/<user>
  std::string default_privs = "nobody";
  int command_time_limit = 1000;  // seconds
  int write_time_limit = 300;     // seconds for one mailbox write (SIGALRM ends the process)
  uint64_t mailbox_size_limit = 0;  // largest mbox file (0: no limit)
  std::string size_limit_name = "mailbox_size_limit";  // named when the limit is hit
  std::string command_path = "/usr/bin:/bin";
  std::string recipient_delimiter = "+";  // splits EXTENSION off LOCAL for commands
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
  Result<std::optional<std::string>> read_owned(const std::string& path, const User& as) override;
  Outcome maildir(const User& as, const std::string& dir, const std::string& text) override;
  Outcome mbox(const User& as, const std::string& path, const std::string& text) override;
  Outcome command(const User& as, const std::string& cmd, const std::string& text,
                  const Delivery& d) override;
  Outcome forward(const std::string& sender, const std::string& address, const std::string& text) override;
  Result<std::optional<std::string>> mailbox_command_map(const std::string& user) override;
  // The mailbox_command_maps lookup (by user name); none: no table.
  void set_command_maps(AliasLookup lookup) { command_maps_ = std::move(lookup); }

  // Runs fn in a child that has become `as` (when root), bounded by timeout_s; the
  // child's Outcome comes back over a pipe. A child that dies is a defer.
  Outcome run_as(const User& as, int timeout_s, const std::function<Outcome()>& fn);
  // Runs fn in this process under the effective ids of `as` (when root); a failed
  // switch is a defer. The ids stay `as`'s afterwards, so the writes of one delivery
  // (the .forward check, then the mailbox) share one switch: every method here that
  // needs root's rights returns to root first, and so does end_delivery(); a failed
  // return is a panic. fn runs under an alarm of timeout_s seconds: a write that hangs
  // ends the process (the request is then a defer for qmgr), as no child can be killed.
  Outcome with_euid(const User& as, int timeout_s, const std::function<Outcome()>& fn);
  // Back to root's ids (after each recipient's delivery).
  void end_delivery() override;
  const SystemSettings& settings() const { return s_; }

 private:
  // The user's supplementary groups (getgrouplist), cached for a minute.
  const std::vector<gid_t>& groups_of(const User& u);
  // Returns to root's ids when a user's are in effect.
  void to_root();

  SystemSettings s_;
  struct CachedGroups {
    gid_t gid = 0;
    int64_t until_ms = 0;
    std::vector<gid_t> groups;
  };
  std::map<std::string, CachedGroups> groups_;
  struct Identity {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;
  };
  std::optional<Identity> current_;   // a user's ids in effect (with_euid), or root's
  std::optional<service::SavedIds> root_ids_;  // read once, before the first switch
  AliasLookup aliases_;
  AliasLookup command_maps_;
  MaildirWriter maildir_;
  Forwarder forward_;
};

// Reads a .forward or :include: file with the caller's rights: never through a
// symbolic link, and only a regular file owned by owner (or root) that group and others
// cannot write (check_owned_file; refused with a permanent Error). Missing: nullopt.
Result<std::optional<std::string>> read_owned_file(const std::string& path, uid_t owner);

// "user NAME", or "uid N" for a mailbox owner without an account (virtual(8)).
std::string who(const User& u);

// Maps an Error from a mailbox write to an outcome: permission, quota and space
// problems, and everything else, defer with the reason (the fix may come later).
Outcome write_error(const std::string& what, const Error& e);

}  // namespace postilion::local
