// imapd/commands.cc - the commands that are not about message contents: capability,
// selection, the mailbox tree, APPEND, COPY/MOVE, EXPUNGE and IDLE.
#include <malloc.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "imapd/login.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/imap/args.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/response.h"
#include "lib/imap/sequence.h"
#include "lib/log/log.h"
#include "lib/mailbox/folders.h"
#include "lib/mail/header.h"

namespace postilion::imapd {
namespace {

constexpr int kIdleRescanMs = 30000;  // IDLE looks at the disk at least this often

bool has_children(const std::vector<std::string>& all, const std::string& name) {
  for (const auto& f : all)
    if (f.size() > name.size() && f.starts_with(name) && f[name.size()] == '/') return true;
  return false;
}

// Flags (lib/imap/args.h, canonical case) into Maildir letters; keywords are not kept
// yet (PERMANENTFLAGS says so) and \Recent cannot be set.
std::string letters_of(const std::vector<std::string>& flags) {
  std::string letters;
  for (const auto& f : flags)
    if (char l = flag_letter(f)) letters += l;
  return letters;
}

// A trailing separator is dropped (CREATE "a/").
std::string strip_separator(std::string n) {
  if (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// Writes text (CRLF or LF ends) as a message of the Maildir at path, in cur/ with the
// flag letters, and its mtime (the internal date) at date when given. Returns its key.
Result<std::string> store_message(const std::string& path, std::string_view text, const std::string& letters,
                                  time_t date) {
  auto d = mailbox::deliver(path, mail::to_lf(text));
  if (!d) return d.error();
  std::string to = path + "/cur/" + d->key + ":2," + normalize_letters(letters);
  if (::rename(d->file.c_str(), to.c_str()) != 0) return Error::from_errno("rename " + d->file);
  if (date > 0) {
    struct timeval tv[2] = {{date, 0}, {date, 0}};
    (void)::utimes(to.c_str(), tv);
  }
  return d->key;
}

// The UIDs the keys got in the Maildir at path (0 where one is not found).
std::vector<uint32_t> uids_of(const std::string& path, const std::vector<std::string>& keys, uint32_t* validity) {
  std::vector<uint32_t> out(keys.size(), 0);
  auto box = mailbox::Maildir::open(path);
  if (!box) return out;
  auto snap = box->scan();
  if (!snap) return out;
  *validity = snap->uid_validity;
  for (size_t i = 0; i < keys.size(); ++i)
    for (const auto& m : snap->messages)
      if (m.key == keys[i]) out[i] = m.uid;
  return out;
}

}  // namespace

void Session::cmd_not_now(imap::Command& c, bool) { bad(c, c.name + " is not valid after login"); }

void Session::cmd_capability(imap::Command& c, bool) {
  out("* CAPABILITY " + capabilities_after_login(s_.append_limit) + "\r\n");
  ok(c, "CAPABILITY completed");
}

void Session::cmd_noop(imap::Command& c, bool) { ok(c, c.name + " completed"); }

void Session::cmd_check(imap::Command& c, bool) { ok(c, "CHECK completed"); }

void Session::cmd_logout(imap::Command& c, bool) {
  out("* BYE Postilion IMAP server signing off\r\n");
  out(imap::tagged(c.tag, "OK", "", "LOGOUT completed"));
  state_ = State::Logout;
}

void Session::cmd_id(imap::Command& c, bool) {
  out("* ID (\"name\" \"Postilion\")\r\n");
  ok(c, "ID completed");
}

void Session::cmd_enable(imap::Command& c, bool) {
  if (c.args.empty()) return bad(c, "ENABLE wants capabilities");
  out("* ENABLED\r\n");
  ok(c, "ENABLE completed");
}

void Session::cmd_namespace(imap::Command& c, bool) {
  out("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
  ok(c, "NAMESPACE completed");
}

void Session::cmd_select(imap::Command& c, bool) {
  auto r = imap::parse_select(c.args);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  if (state_ == State::Selected) unselect();
  std::string why;
  bool ro = c.name == "EXAMINE";
  if (!select_folder(std::get<imap::SelectRequest>(r).mailbox, ro, &why)) return no(c, why);
  size_t recent = 0, unseen = 0;
  for (size_t i = 0; i < msgs_.size(); ++i) {
    recent += msgs_[i].recent ? 1 : 0;
    if (!unseen && msgs_[i].letters.find('S') == std::string::npos) unseen = i + 1;
  }
  out("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
  out("* " + std::to_string(msgs_.size()) + " EXISTS\r\n");
  out("* " + std::to_string(recent) + " RECENT\r\n");
  if (unseen) out("* OK [UNSEEN " + std::to_string(unseen) + "] first unseen message\r\n");
  out(std::string("* OK [PERMANENTFLAGS (") + (ro ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft") +
      ")] flags that are kept\r\n");
  out("* OK [UIDVALIDITY " + std::to_string(uid_validity_) + "] UIDs valid\r\n");
  out("* OK [UIDNEXT " + std::to_string(next_uid_) + "] predicted next UID\r\n");
  ok(c, std::string(ro ? "[READ-ONLY] " : "[READ-WRITE] ") + c.name + " completed");
}

void Session::cmd_close(imap::Command& c, bool) {
  if (c.name == "CLOSE" && !read_only_) expunge_deleted(nullptr, true);
  unselect();
  ok(c, c.name + " completed");
}

void Session::cmd_list(imap::Command& c, bool) {
  bool lsub = c.name == "LSUB";
  auto r = imap::parse_list(c.args);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  const auto& req = std::get<imap::ListRequest>(r);
  if (!req.select_options.empty()) return bad(c, "LIST selection options are not supported");
  if (req.patterns.size() == 1 && req.patterns[0].empty() && !lsub) {
    out("* LIST (\\Noselect) \"/\" \"\"\r\n");
    return ok(c, "LIST completed");
  }
  std::vector<std::string> folders = list_folders(root_);
  std::vector<std::string> names = lsub ? subscribed(root_) : folders;
  if (!lsub) names.insert(names.begin(), "INBOX");
  std::vector<std::string> patterns;
  for (const auto& p : req.patterns) {
    auto utf8 = imap::mutf7_decode(imap::list_join(req.reference, p));
    if (utf8) patterns.push_back(imap::normalize_inbox(*utf8));
  }
  for (const auto& n : names) {
    bool match = false;
    for (const auto& p : patterns) match = match || imap::list_match(p, n);
    if (!match) continue;
    std::string attrs;
    if (lsub) {
      if (n != "INBOX" && std::find(folders.begin(), folders.end(), n) == folders.end()) attrs = "\\Noselect";
    } else {
      attrs = has_children(folders, n) ? "\\HasChildren" : "\\HasNoChildren";
      if (auto su = special_use(n); !su.empty()) attrs += " " + su;
    }
    std::string line = "* " + c.name + " (" + attrs + ") \"/\" ";
    imap::append_mailbox(line, n);
    out(line + "\r\n");
  }
  ok(c, c.name + " completed");
}

void Session::cmd_status(imap::Command& c, bool) {
  auto r = imap::parse_status(c.args);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  const auto& req = std::get<imap::StatusRequest>(r);
  std::string name, why;
  auto path = folder_of(req.mailbox, false, &name, &why);
  if (!path) return no(c, why);
  auto box = mailbox::Maildir::open(*path);
  if (!box) return no(c, "[NONEXISTENT] no such mailbox");
  auto snap = box->scan();
  if (!snap) {
    log::warn("%s: %s", label_.c_str(), snap.error().c_str());
    return no(c, "[SERVERBUG] cannot read the mailbox");
  }
  size_t recent = 0, unseen = 0;
  for (const auto& m : snap->messages) {
    recent += m.is_new() ? 1 : 0;
    unseen += m.flags.find('S') == std::string::npos ? 1 : 0;
  }
  std::string items;
  for (auto item : req.items) {
    uint64_t v = 0;
    switch (item) {
      case imap::StatusItem::Messages: v = snap->messages.size(); break;
      case imap::StatusItem::Recent: v = recent; break;
      case imap::StatusItem::UidNext: v = snap->next_uid; break;
      case imap::StatusItem::UidValidity: v = snap->uid_validity; break;
      case imap::StatusItem::Unseen: v = unseen; break;
      case imap::StatusItem::AppendLimit: v = s_.append_limit; break;
      default: return bad(c, std::string("STATUS ") + imap::status_item_name(item) + " is not supported");
    }
    if (!items.empty()) items += ' ';
    items += std::string(imap::status_item_name(item)) + " " + std::to_string(v);
  }
  std::string line = "* STATUS ";
  imap::append_mailbox(line, name);
  out(line + " (" + items + ")\r\n");
  ok(c, "STATUS completed");
}

void Session::cmd_create(imap::Command& c, bool) {
  auto r = imap::parse_astrings(c.args, 1);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  std::string name, why;
  auto path = folder_of(strip_separator(std::get<0>(r)[0]), true, &name, &why);
  if (!path) return no(c, why);
  if (name == "INBOX") return no(c, "[ALREADYEXISTS] INBOX always exists");
  if (auto st = mailbox::create_folder(root_, imap::to_maildir(name)); !st) {
    if (st.error().code() == EEXIST) return no(c, "[ALREADYEXISTS] mailbox exists");
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot create the mailbox");
  }
  ok(c, "CREATE completed");
}

void Session::cmd_delete(imap::Command& c, bool) {
  auto r = imap::parse_astrings(c.args, 1);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  std::string name, why;
  auto path = folder_of(std::get<0>(r)[0], false, &name, &why);
  if (!path) return no(c, why);
  if (name == "INBOX") return no(c, "[CANNOT] INBOX cannot be deleted");
  auto folders = list_folders(root_);
  if (std::find(folders.begin(), folders.end(), name) == folders.end()) return no(c, "[NONEXISTENT] no such mailbox");
  if (has_children(folders, name)) return no(c, "[INUSE] the mailbox has subfolders");
  if (state_ == State::Selected && folder_path_ == *path) unselect();
  if (auto st = mailbox::delete_folder(root_, imap::to_maildir(name)); !st) {
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot delete the mailbox");
  }
  ok(c, "DELETE completed");
}

void Session::cmd_rename(imap::Command& c, bool) {
  auto r = imap::parse_astrings(c.args, 2);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  std::string from, to, why;
  auto pf = folder_of(std::get<0>(r)[0], false, &from, &why);
  if (!pf) return no(c, why);
  auto pt = folder_of(strip_separator(std::get<0>(r)[1]), true, &to, &why);
  if (!pt) return no(c, why);
  if (from == "INBOX") return no(c, "[CANNOT] renaming INBOX is not supported");
  if (to == "INBOX") return no(c, "[ALREADYEXISTS] INBOX exists");
  auto folders = list_folders(root_);
  if (std::find(folders.begin(), folders.end(), from) == folders.end()) return no(c, "[NONEXISTENT] no such mailbox");
  if (std::find(folders.begin(), folders.end(), to) != folders.end()) return no(c, "[ALREADYEXISTS] mailbox exists");
  if (to.starts_with(from + "/")) return no(c, "[CANNOT] cannot move a mailbox into itself");
  if (state_ == State::Selected && folder_path_ == *pf) unselect();
  if (auto st = mailbox::rename_folder(root_, imap::to_maildir(from), imap::to_maildir(to)); !st) {
    if (st.error().code() == EEXIST) return no(c, "[ALREADYEXISTS] a mailbox of the new name exists");
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot rename the mailbox");
  }
  ok(c, "RENAME completed");
}

void Session::cmd_subscribe(imap::Command& c, bool) {
  auto r = imap::parse_astrings(c.args, 1);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  std::string name, why;
  if (!folder_of(std::get<0>(r)[0], false, &name, &why)) return no(c, why);
  Status st;
  if (c.name == "SUBSCRIBE") {
    st = mailbox::subscribe(root_, imap::to_maildir(name));
  } else {
    auto subs = subscribed(root_);
    if (std::find(subs.begin(), subs.end(), name) == subs.end()) return no(c, "[NONEXISTENT] not subscribed");
    st = mailbox::unsubscribe(root_, imap::to_maildir(name));
  }
  if (!st) {
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot write the subscriptions");
  }
  ok(c, c.name + " completed");
}

void Session::cmd_append(imap::Command& c, bool) {
  auto r = imap::parse_append(c.args);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  auto& req = std::get<imap::AppendRequest>(r);
  std::string name, why;
  auto path = folder_of(req.mailbox, false, &name, &why);
  if (!path) return no(c, why);
  if (!mailbox::Maildir::open(*path)) return no(c, "[TRYCREATE] no such mailbox");
  for (const auto& m : req.messages)
    if (m.message.size() > s_.append_limit) return no(c, "[TOOBIG] message over APPENDLIMIT");
  std::vector<std::string> keys;
  for (const auto& m : req.messages) {
    auto key = store_message(*path, m.message, letters_of(m.flags), m.date ? static_cast<time_t>(m.date->utc) : 0);
    if (!key) {
      log::warn("%s: append to %s: %s", label_.c_str(), name.c_str(), key.error().c_str());
      return no(c, "[SERVERBUG] cannot store the message");
    }
    keys.push_back(*key);
    ++stats_.appended;
  }
  uint32_t validity = 0;
  auto uids = uids_of(*path, keys, &validity);
  bool all = std::find(uids.begin(), uids.end(), 0u) == uids.end();
  ok(c, all ? "[APPENDUID " + std::to_string(validity) + " " + imap::compact_set(uids) + "] APPEND completed"
            : "APPEND completed");
}

void Session::cmd_copy(imap::Command& c, bool uid) {
  bool move = c.name == "MOVE";
  auto r = imap::parse_copy(c.args);
  if (auto* e = imap::parse_error(r)) return bad(c, *e);
  const auto& req = std::get<imap::CopyRequest>(r);
  if (move && read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  std::vector<size_t> idx;
  std::string why, name;
  if (!resolve_set(req.set, uid, &idx, &why)) return bad(c, why);
  auto path = folder_of(req.mailbox, false, &name, &why);
  if (!path) return no(c, why);
  if (!mailbox::Maildir::open(*path)) return no(c, "[TRYCREATE] no such mailbox");
  std::vector<uint32_t> src;
  std::vector<std::string> keys;
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    auto mm = as_message(m);
    if (!mm) continue;
    auto text = box_->read(*mm, s_.append_limit * 4);
    if (!text) {
      if (text.error().code() == ENOENT) continue;
      log::warn("%s: %s", label_.c_str(), text.error().c_str());
      return no(c, "[SERVERBUG] cannot read a message");
    }
    auto key = store_message(*path, *text, m.letters, internal_date(m));
    if (!key) {
      log::warn("%s: copy to %s: %s", label_.c_str(), name.c_str(), key.error().c_str());
      return no(c, "[SERVERBUG] cannot store the message");
    }
    src.push_back(m.uid);
    keys.push_back(*key);
    ++stats_.copied;
  }
  uint32_t validity = 0;
  auto dst = uids_of(*path, keys, &validity);
  bool all = !keys.empty() && std::find(dst.begin(), dst.end(), 0u) == dst.end();
  std::string code = all ? "[COPYUID " + std::to_string(validity) + " " + imap::compact_set(src) + " " +
                               imap::compact_set(dst) + "] "
                         : "";
  if (!move) return ok(c, code + "COPY completed");
  out("* OK " + code + "moved\r\n");
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    auto mm = as_message(m);
    if (mm) {
      if (auto st = box_->remove(*mm); !st) {
        log::warn("%s: %s", label_.c_str(), st.error().c_str());
        continue;
      }
    }
    m.gone = true;
  }
  if (auto st = box_->sync(); !st) log::warn("%s: %s", label_.c_str(), st.error().c_str());
  report_expunges();
  ok(c, "MOVE completed");
}

void Session::cmd_expunge(imap::Command& c, bool uid) {
  if (read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  if (uid) {
    if (c.args.size() != 1) return bad(c, "UID EXPUNGE wants a UID set");
    auto set = imap::parse_set_arg(c.args[0]);
    if (auto* e = imap::parse_error(set)) return bad(c, *e);
    std::vector<size_t> idx;
    std::string why;
    if (!resolve_set(std::get<imap::SequenceSet>(set), true, &idx, &why)) return bad(c, why);
    expunge_deleted(&idx, false);
  } else {
    if (!c.args.empty()) return bad(c, "EXPUNGE takes no arguments");
    expunge_deleted(nullptr, false);
  }
  ok(c, "EXPUNGE completed");
}

void Session::cmd_idle(imap::Command& c, bool) {
  if (!c.args.empty()) return bad(c, "IDLE takes no arguments");
  if (state_ == State::Selected) sync(true);
  out("+ idling\r\n");
  flush();
  // A client may stay in IDLE for hours: what this process grew for SELECT and FETCH
  // and has freed since (the index load, output and message buffers) goes back to the
  // system instead of staying resident with every idle connection.
  std::string().swap(out_);
  std::string().swap(cached_);
  cached_uid_ = 0;
  ::malloc_trim(0);
  // inotify on new/ and cur/ brings a delivery or another session's change at once.
  UniqueFd ino;
  if (state_ == State::Selected) {
    ino = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (ino) {
      for (const char* sub : {"/new", "/cur"})
        (void)::inotify_add_watch(ino.get(), (folder_path_ + sub).c_str(),
                                  IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s_.timeout_ms);
  while (state_ != State::Logout) {
    size_t lf = in_.find('\n');
    if (lf != std::string::npos) {
      std::string line = in_.substr(0, lf);
      in_.erase(0, lf + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (str::iequals(line, "DONE")) return ok(c, "IDLE terminated");
      return bad(c, "expected DONE");
    }
    if (in_.size() > 1000) return bad(c, "expected DONE");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out("* BYE idle timeout\r\n");
      state_ = State::Logout;
      return;
    }
    struct pollfd p[2] = {{fd_, POLLIN, 0}, {ino ? ino.get() : -1, POLLIN, 0}};
    int n = ::poll(p, 2, static_cast<int>(std::min<int64_t>(left.count(), kIdleRescanMs)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      state_ = State::Logout;
      return;
    }
    if (p[1].revents & POLLIN) {
      char buf[4096];
      while (::read(ino.get(), buf, sizeof buf) > 0) {
      }
    }
    if (n == 0 || (p[1].revents & POLLIN)) {
      if (state_ == State::Selected) sync(true);
      flush();
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!fill(0)) {
        state_ = State::Logout;
        return;
      }
    }
  }
}

}  // namespace postilion::imapd
