// imapd/imap_session.h - the authenticated and selected states of one IMAP session,
// in the mailbox owner's process: reads commands from the login process's relay,
// answers them on the Maildir++ tree, and reports what other sessions and deliveries
// change (EXISTS, EXPUNGE, FETCH FLAGS) at the moments RFC 3501 allows.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "imapd/command.h"
#include "imapd/settings.h"
#include "lib/mailbox/maildir.h"

namespace postilion::imapd {

struct Stats {
  uint64_t fetched = 0, fetched_bytes = 0, stored = 0, expunged = 0, appended = 0, copied = 0;
};

class Session {
 public:
  // fd: the relay to the login process; root: the user's Maildir; label: for log lines.
  Session(const Settings& s, int fd, std::string root, std::string label);
  // Serves commands until LOGOUT, the end of the connection, or the idle timeout.
  void run();
  const Stats& stats() const { return stats_; }

 private:
  enum class State { Authenticated, Selected, Logout };
  using Handler = void (Session::*)(Command&, bool uid);
  struct CommandSpec {
    const char* name;
    Handler handler;
    bool selected_only;
    bool uid_form;  // may follow UID
  };
  static const CommandSpec kCommands[];

  struct Msg {
    uint32_t uid = 0;
    std::string key, file, letters;
    uint64_t vsize = 0;
    bool recent = false, gone = false;
  };

  // I/O
  bool fill(int timeout_ms);  // reads more input; false on EOF, error or timeout
  void flush();
  void out(std::string_view s) { out_ += s; }
  void ok(const Command& c, const std::string& text) { tagged_reply(c, "OK", text); }
  void no(const Command& c, const std::string& text) { tagged_reply(c, "NO", text); }
  void bad(const Command& c, const std::string& text);
  void tagged_reply(const Command& c, const char* kind, const std::string& text);
  void dispatch(Command& c);

  // the selected mailbox
  bool select_folder(const std::string& name, bool read_only, std::string* why);
  void unselect();
  // Brings msgs_ in step with the disk; reports new messages and flag changes, and
  // expunges when allowed.
  void sync(bool allow_expunge);
  void report_expunges();
  mailbox::Message as_message(const Msg& m) const;
  Result<std::string> content(Msg& m);  // CRLF ends; the last one is cached
  bool set_letters(Msg& m, const std::string& letters);
  time_t internal_date(const Msg& m) const;
  // Parses a sequence set into indexes of msgs_ (ascending). false: bad syntax.
  bool resolve_set(const std::string& set, bool uid, std::vector<size_t>* idx, std::string* why) const;
  std::string uid_set_text(const std::vector<uint32_t>& uids) const;
  std::string flags_of(const Msg& m) const;
  void expunge_deleted(const std::vector<size_t>* only, bool silent);

  // handlers (commands.cc, fetch.cc, search.cc)
  void cmd_capability(Command& c, bool uid);
  void cmd_noop(Command& c, bool uid);
  void cmd_logout(Command& c, bool uid);
  void cmd_id(Command& c, bool uid);
  void cmd_enable(Command& c, bool uid);
  void cmd_namespace(Command& c, bool uid);
  void cmd_select(Command& c, bool uid);
  void cmd_list(Command& c, bool uid);
  void cmd_status(Command& c, bool uid);
  void cmd_create(Command& c, bool uid);
  void cmd_delete(Command& c, bool uid);
  void cmd_rename(Command& c, bool uid);
  void cmd_subscribe(Command& c, bool uid);
  void cmd_append(Command& c, bool uid);
  void cmd_idle(Command& c, bool uid);
  void cmd_check(Command& c, bool uid);
  void cmd_close(Command& c, bool uid);
  void cmd_expunge(Command& c, bool uid);
  void cmd_fetch(Command& c, bool uid);
  void cmd_store(Command& c, bool uid);
  void cmd_search(Command& c, bool uid);
  void cmd_copy(Command& c, bool uid);
  void cmd_not_now(Command& c, bool uid);

  const Settings& s_;
  int fd_;
  std::string root_, label_;
  CommandReader reader_;
  std::string in_, out_;
  State state_ = State::Authenticated;
  int64_t errors_ = 0;
  bool allow_expunge_ = true;  // the command being answered may report EXPUNGE
  Stats stats_;

  std::string folder_name_, folder_path_;
  std::optional<mailbox::Maildir> box_;
  bool read_only_ = false;
  uint32_t uid_validity_ = 0, next_uid_ = 1;
  std::vector<Msg> msgs_;
  uint32_t cached_uid_ = 0;
  std::string cached_;
};

}  // namespace postilion::imapd
