// local/deliver.h - one local recipient, start to end: alias_maps, ~/.forward and
// :include: expansion, loop detection (Delivered-To), and the final mailbox, pipe,
// file or forward. The environment (tables, users, the writes done as the user) is an
// interface, so the rules are tested with a fake and local/main.cc plugs in the real one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/queue/queue_file.h"

namespace postilion::local {

struct User {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

struct Settings {
  std::string myhostname = "localhost";
  std::vector<std::string> mydestination{"localhost"};
  std::string recipient_delimiter = "+";
  std::string home_mailbox = "Maildir/";  // ends in '/': Maildir; else an mbox file; "" = spool
  std::string mail_spool_directory = "/var/mail";
  bool allow_commands = true;              // |command from aliases and .forward
  bool allow_files = true;                 // /file from aliases and .forward
  // Final delivery to a command instead of home_mailbox (Postfix's mailbox_command);
  // $name expanded (local/command.h) with shell-safe values. mailbox_command_maps,
  // looked up by Environment::mailbox_command_map, take precedence.
  std::string mailbox_command;
  // Where mail for an unknown local user goes instead of a 5.1.1 bounce ($name
  // expanded, values as they are), e.g. "admin+$local@example.org". "" = bounce.
  std::string luser_relay;
  int max_depth = 20;
};

// The message and the one envelope recipient being delivered.
struct Delivery {
  std::string queue_id;
  std::string sender;
  std::string recipient;        // as in the queue file, e.g. Bob+lists@example.org
  std::string_view content;     // the queued message (headers, blank line, body)
  std::string original_recipient;  // before any rewriting (ORCPT, or the recipient)
  // The queue file (its attributes: client_address, helo, sasl_username, envid...), or none.
  const queue::QueueFile* file = nullptr;

  // ORIGINAL_RECIPIENT and $original_recipient: original_recipient, else the recipient.
  const std::string& original() const { return original_recipient.empty() ? recipient : original_recipient; }
};

struct Outcome {
  enum class Kind { Sent, Defer, Bounce };
  Kind kind = Kind::Sent;
  std::string dsn;   // X.Y.Z
  std::string text;  // e.g. "delivered to maildir", "unknown user: \"bob\""
  static Outcome sent(std::string text) { return {Kind::Sent, "2.0.0", std::move(text)}; }
  static Outcome defer(std::string dsn, std::string text) { return {Kind::Defer, std::move(dsn), std::move(text)}; }
  static Outcome bounce(std::string dsn, std::string text) { return {Kind::Bounce, std::move(dsn), std::move(text)}; }
};

class Environment {
 public:
  virtual ~Environment() = default;
  // alias_maps lookup; an Error is a temporary table failure (defer).
  virtual Result<std::optional<std::string>> alias(const std::string& name) = 0;
  virtual std::optional<User> user(const std::string& name) = 0;
  // The account that runs alias commands and files (default_privs).
  virtual User privileged_default() = 0;
  // Reads a .forward or :include: file as `as` (who must own it, or root), refusing an
  // unsafe one (check_owned_file) with a permanent Error; a missing file is nullopt.
  virtual Result<std::optional<std::string>> read_owned(const std::string& path, const User& as) = 0;
  // The writes, each done as `as`. text already carries Return-Path/Delivered-To.
  virtual Outcome maildir(const User& as, const std::string& dir, const std::string& text) = 0;
  virtual Outcome mbox(const User& as, const std::string& path, const std::string& text) = 0;
  virtual Outcome command(const User& as, const std::string& cmd, const std::string& text,
                          const Delivery& d) = 0;
  // mailbox_command_maps lookup by user name: nullopt when there is no entry (or no
  // table); an Error is a temporary table failure (defer).
  virtual Result<std::optional<std::string>> mailbox_command_map(const std::string& user) {
    (void)user;
    return std::optional<std::string>();
  }
  // Queues a new message to a non-local address (text has Delivered-To added).
  virtual Outcome forward(const std::string& sender, const std::string& address,
                          const std::string& text) = 0;
  // One recipient's delivery is over: the writes may have left the process with the
  // user's effective ids (SystemEnv), and this returns it to its own.
  virtual void end_delivery() {}
};

// Calls env.end_delivery() when it goes out of scope: however a delivery ends, the
// process has its own ids again.
struct EndDelivery {
  Environment& env;
  ~EndDelivery() { env.end_delivery(); }
};

// One destination of an expanded recipient that bounced while others were delivered.
struct Expanded {
  std::string address;  // as expanded: user@domain, a forward address, |command, /file,
                        // :include:/path
  Outcome outcome;      // a Bounce
};

// Delivers d.recipient: expands, writes, and sums up. A recipient whose expansion
// partly deferred is deferred as a whole (the deliveries that worked may be repeated:
// a duplicate, never a loss). One whose expansion partly bounced (nothing deferred,
// something delivered) is Sent when `bounced` is given, and each bounced destination
// is appended to *bounced; without it, it is a Bounce as a whole (the first reason).
// Problems in alias or .forward lines that were skipped go to *warnings (for the log).
Outcome deliver(const Settings& s, Environment& env, const Delivery& d,
                std::vector<std::string>* warnings = nullptr, std::vector<Expanded>* bounced = nullptr);

// The text written to a mailbox: Return-Path and Delivered-To prepended, LF line ends.
std::string mailbox_text(const std::string& sender, const std::string& delivered_to,
                         std::string_view content);

}  // namespace postilion::local
