// imapd/imap_session.h - the authenticated and selected states of one IMAP session,
// in the mailbox owner's process: reads commands from the login process's relay,
// answers them on the Maildir++ tree, and reports what other sessions and deliveries
// change (EXISTS, EXPUNGE, FETCH FLAGS) at the moments RFC 3501 allows.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "imapd/settings.h"
#include "lib/imap/command.h"
#include "lib/imap/sequence.h"
#include "lib/mailbox/maildir.h"

namespace postilion::imapd {

struct Stats {
  uint64_t fetched = 0, fetched_bytes = 0, stored = 0, expunged = 0, appended = 0, copied = 0;
  uint64_t files_read = 0;  // message files FETCH opened (not answered from the index)
};

class Session {
 public:
  // fd: the client connection, or the relay to the login process (TLS); root: the
  // user's Maildir; label: for log lines.
  Session(const Settings& s, int fd, std::string root, std::string label);
  // Input that arrived before the session took over (pipelined behind the login).
  void feed(std::string_view bytes) { in_ += bytes; }
  // Serves commands until LOGOUT, the end of the connection, or the idle timeout.
  void run();
  const Stats& stats() const { return stats_; }

 private:
  enum class State { Authenticated, Selected, Logout };
  using Handler = void (Session::*)(imap::Command&, bool uid);
  struct CommandSpec {
    const char* name;
    Handler handler;
    bool selected_only;
    bool uid_form;  // may follow UID
  };
  static const CommandSpec kCommands[];
  class View;  // a message as SEARCH sees it (search.cc)

  // A message of the selected folder as this session has reported it. Its key and
  // file name are not copied here: box_'s view has them (renamed_ the names this
  // session gave since the view's last refresh).
  struct Msg {
    uint32_t uid = 0;
    std::string letters;
    uint64_t vsize = 0;
    bool recent = false, gone = false;
  };

  // I/O
  bool fill(int timeout_ms);  // reads more input; false on EOF, error or timeout
  void flush();
  void out(std::string_view s) { out_ += s; }
  void ok(const imap::Command& c, const std::string& text) { tagged_reply(c.tag, "OK", text); }
  void no(const imap::Command& c, const std::string& text) { tagged_reply(c.tag, "NO", text); }
  void bad(const imap::Command& c, const std::string& text);
  void count_error();
  void tagged_reply(const std::string& tag, const char* kind, const std::string& text);
  void dispatch(imap::Command& c);

  // the selected mailbox
  bool select_folder(const std::string& name, bool read_only, std::string* why);
  void unselect();
  // Brings msgs_ in step with the disk; reports new messages and flag changes, and
  // expunges when allowed.
  void sync(bool allow_expunge);
  void report_expunges();
  // The message as lib/mailbox knows it; nullopt once expunged from the view.
  std::optional<mailbox::Message> as_message(const Msg& m) const;
  const std::string& file_of(const Msg& m, const mailbox::Message& v) const;
  Result<std::string> content(Msg& m);  // CRLF ends; the last one is cached
  bool set_letters(Msg& m, const std::string& letters);
  time_t internal_date(const Msg& m) const;
  // The indexes of msgs_ (ascending) a sequence set names. false (with *why): a
  // message number that does not exist.
  bool resolve_set(const imap::SequenceSet& set, bool uid, std::vector<size_t>* idx, std::string* why) const;
  // The folder of a mailbox name as sent (modified UTF-7); nullopt with *why set.
  std::optional<std::string> folder_of(const std::string& wire, bool for_create, std::string* name,
                                       std::string* why) const;
  std::string flags_of(const Msg& m) const;
  void expunge_deleted(const std::vector<size_t>* only, bool silent);

  // handlers (commands.cc, fetch.cc, search.cc)
  void cmd_capability(imap::Command& c, bool uid);
  void cmd_noop(imap::Command& c, bool uid);
  void cmd_logout(imap::Command& c, bool uid);
  void cmd_id(imap::Command& c, bool uid);
  void cmd_enable(imap::Command& c, bool uid);
  void cmd_namespace(imap::Command& c, bool uid);
  void cmd_select(imap::Command& c, bool uid);
  void cmd_list(imap::Command& c, bool uid);
  void cmd_status(imap::Command& c, bool uid);
  void cmd_create(imap::Command& c, bool uid);
  void cmd_delete(imap::Command& c, bool uid);
  void cmd_rename(imap::Command& c, bool uid);
  void cmd_subscribe(imap::Command& c, bool uid);
  void cmd_append(imap::Command& c, bool uid);
  void cmd_idle(imap::Command& c, bool uid);
  void cmd_check(imap::Command& c, bool uid);
  void cmd_close(imap::Command& c, bool uid);
  void cmd_expunge(imap::Command& c, bool uid);
  void cmd_fetch(imap::Command& c, bool uid);
  void cmd_store(imap::Command& c, bool uid);
  void cmd_search(imap::Command& c, bool uid);
  void cmd_copy(imap::Command& c, bool uid);
  void cmd_not_now(imap::Command& c, bool uid);

  const Settings& s_;
  int fd_;
  std::string root_, label_;
  imap::CommandReader reader_;
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
  std::unordered_map<uint32_t, std::string> renamed_;  // UID -> file, until the next refresh
  uint32_t cached_uid_ = 0;
  std::string cached_;
};

}  // namespace postilion::imapd
