// imapd/commands.cc - the commands that are not about message contents: capability,
// selection, the mailbox tree, APPEND, COPY/MOVE, EXPUNGE and IDLE.
#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "imapd/login.h"
#include "imapd/response.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/header.h"

namespace postilion::imapd {
namespace {

constexpr int kIdleRescanMs = 30000;  // IDLE looks at the disk at least this often

// Removes a folder: its files in tmp/, new/, cur/ and itself (no subfolders inside,
// Maildir++ keeps those beside it).
Status remove_folder(const std::string& path) {
  for (const char* sub : {"/tmp", "/new", "/cur", ""}) {
    std::string dir = path + sub;
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) {
      std::string p = dir + "/" + n;
      struct stat st;
      if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unlink " + p);
    }
    if (*sub && ::rmdir(dir.c_str()) != 0 && errno != ENOENT) return Error::from_errno("rmdir " + dir);
  }
  if (::rmdir(path.c_str()) != 0) return Error::from_errno("rmdir " + path);
  return {};
}

bool has_children(const std::vector<std::string>& all, const std::string& name) {
  for (const auto& f : all)
    if (f.size() > name.size() && f.starts_with(name) && f[name.size()] == '/') return true;
  return false;
}

// A mailbox name argument with a trailing separator dropped (CREATE "a/").
std::string mailbox_arg(const Value& v) {
  std::string n = v.text;
  if (n.size() > 1 && n.back() == '/') n.pop_back();
  return is_inbox(n) ? "INBOX" : n;
}

// Flag list of APPEND/STORE into Maildir letters; false on a flag that is not a flag.
bool letters_of(const Value& v, std::string* letters) {
  std::vector<const Value*> items;
  if (v.is_list())
    for (const auto& i : v.items) items.push_back(&i);
  else
    items.push_back(&v);
  for (const Value* i : items) {
    if (!i->is_atom() || i->text.empty()) return false;
    if (i->text[0] == '\\') {
      if (str::iequals(i->text, "\\Recent")) continue;
      char l = flag_letter(i->text);
      if (!l) return false;
      *letters += l;
    }
    // Keywords are not kept yet (PERMANENTFLAGS says so); they are accepted.
  }
  return true;
}

}  // namespace

void Session::cmd_not_now(Command& c, bool) { bad(c, c.name + " is not valid after login"); }

void Session::cmd_capability(Command& c, bool) {
  out("* CAPABILITY " + capabilities_after_login(s_.append_limit) + "\r\n");
  ok(c, "CAPABILITY completed");
}

void Session::cmd_noop(Command& c, bool) { ok(c, c.name + " completed"); }

void Session::cmd_check(Command& c, bool) { ok(c, "CHECK completed"); }

void Session::cmd_logout(Command& c, bool) {
  out("* BYE Postilion IMAP server signing off\r\n");
  out(tagged(c.tag, "OK", "LOGOUT completed"));
  state_ = State::Logout;
}

void Session::cmd_id(Command& c, bool) {
  out("* ID (\"name\" \"Postilion\")\r\n");
  ok(c, "ID completed");
}

void Session::cmd_enable(Command& c, bool) {
  if (c.args.empty()) return bad(c, "ENABLE wants capabilities");
  out("* ENABLED\r\n");
  ok(c, "ENABLE completed");
}

void Session::cmd_namespace(Command& c, bool) {
  out("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
  ok(c, "NAMESPACE completed");
}

void Session::cmd_select(Command& c, bool) {
  if (c.args.empty() || c.args.size() > 2 || !c.args[0].is_string()) return bad(c, c.name + " wants a mailbox name");
  if (state_ == State::Selected) unselect();
  std::string why;
  bool ro = c.name == "EXAMINE";
  if (!select_folder(mailbox_arg(c.args[0]), ro, &why)) return no(c, why);
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

void Session::cmd_close(Command& c, bool) {
  if (c.name == "CLOSE" && !read_only_) expunge_deleted(nullptr, true);
  unselect();
  ok(c, c.name + " completed");
}

void Session::cmd_list(Command& c, bool) {
  bool lsub = c.name == "LSUB";
  // LIST "" "*" RETURN (SPECIAL-USE) is accepted; the attributes come anyway.
  if (c.args.size() < 2 || !c.args[0].is_string() || !c.args[1].is_string() ||
      (c.args.size() != 2 && !(c.args.size() == 4 && str::iequals(c.args[2].text, "RETURN"))))
    return bad(c, c.name + " wants a reference and a mailbox pattern");
  std::string ref = c.args[0].text, pattern = c.args[1].text;
  if (pattern.empty() && !lsub) {
    out("* LIST (\\Noselect) \"/\" \"\"\r\n");
    return ok(c, "LIST completed");
  }
  std::string full = ref;
  if (!full.empty() && full.back() != '/' && !pattern.empty()) full += '/';
  full += pattern;
  std::vector<std::string> folders = list_folders(root_);
  std::vector<std::string> names = lsub ? read_subscriptions(root_) : folders;
  if (!lsub) names.insert(names.begin(), "INBOX");
  for (const auto& n : names) {
    bool match = pattern_match(full, n) || (is_inbox(n) && pattern_match(str::upper(full), "INBOX"));
    if (!match) continue;
    std::string attrs;
    if (lsub) {
      if (!is_inbox(n) && std::find(folders.begin(), folders.end(), n) == folders.end()) attrs = "\\Noselect";
    } else {
      attrs = has_children(folders, n) ? "\\HasChildren" : "\\HasNoChildren";
      if (auto su = special_use(n); !su.empty()) attrs += " " + su;
    }
    out("* " + c.name + " (" + attrs + ") \"/\" " + astring(n) + "\r\n");
  }
  ok(c, c.name + " completed");
}

void Session::cmd_status(Command& c, bool) {
  if (c.args.size() != 2 || !c.args[0].is_string() || !c.args[1].is_list())
    return bad(c, "STATUS wants a mailbox name and a list of items");
  std::string name = mailbox_arg(c.args[0]);
  auto path = folder_path(root_, name);
  if (!path) return no(c, "[CANNOT] invalid mailbox name");
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
  for (const auto& item : c.args[1].items) {
    std::string k = str::upper(item.text);
    uint64_t v = 0;
    if (k == "MESSAGES") v = snap->messages.size();
    else if (k == "RECENT") v = recent;
    else if (k == "UIDNEXT") v = snap->next_uid;
    else if (k == "UIDVALIDITY") v = snap->uid_validity;
    else if (k == "UNSEEN") v = unseen;
    else return bad(c, "unknown STATUS item " + item.text.substr(0, 40));
    if (!items.empty()) items += ' ';
    items += k + " " + std::to_string(v);
  }
  out("* STATUS " + astring(name) + " (" + items + ")\r\n");
  ok(c, "STATUS completed");
}

void Session::cmd_create(Command& c, bool) {
  if (c.args.size() != 1 || !c.args[0].is_string()) return bad(c, "CREATE wants a mailbox name");
  std::string name = mailbox_arg(c.args[0]);
  if (is_inbox(name)) return no(c, "[ALREADYEXISTS] INBOX always exists");
  auto path = folder_path(root_, name);
  if (!path) return no(c, "[CANNOT] invalid mailbox name");
  if (auto st = create_folder(*path); !st) {
    if (st.error().code() == EEXIST) return no(c, "[ALREADYEXISTS] mailbox exists");
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot create the mailbox");
  }
  ok(c, "CREATE completed");
}

void Session::cmd_delete(Command& c, bool) {
  if (c.args.size() != 1 || !c.args[0].is_string()) return bad(c, "DELETE wants a mailbox name");
  std::string name = mailbox_arg(c.args[0]);
  if (is_inbox(name)) return no(c, "[CANNOT] INBOX cannot be deleted");
  auto path = folder_path(root_, name);
  if (!path) return no(c, "[CANNOT] invalid mailbox name");
  auto folders = list_folders(root_);
  if (std::find(folders.begin(), folders.end(), name) == folders.end()) return no(c, "[NONEXISTENT] no such mailbox");
  if (has_children(folders, name)) return no(c, "[INUSE] the mailbox has subfolders");
  if (state_ == State::Selected && folder_path_ == *path) unselect();
  if (auto st = remove_folder(*path); !st) {
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot delete the mailbox");
  }
  ok(c, "DELETE completed");
}

void Session::cmd_rename(Command& c, bool) {
  if (c.args.size() != 2 || !c.args[0].is_string() || !c.args[1].is_string())
    return bad(c, "RENAME wants two mailbox names");
  std::string from = mailbox_arg(c.args[0]), to = mailbox_arg(c.args[1]);
  if (is_inbox(from)) return no(c, "[CANNOT] renaming INBOX is not supported");
  auto pf = folder_path(root_, from), pt = folder_path(root_, to);
  if (!pf || !pt || is_inbox(to)) return no(c, "[CANNOT] invalid mailbox name");
  auto folders = list_folders(root_);
  if (std::find(folders.begin(), folders.end(), from) == folders.end()) return no(c, "[NONEXISTENT] no such mailbox");
  if (std::find(folders.begin(), folders.end(), to) != folders.end()) return no(c, "[ALREADYEXISTS] mailbox exists");
  if (to.starts_with(from + "/")) return no(c, "[CANNOT] cannot move a mailbox into itself");
  if (state_ == State::Selected && folder_path_ == *pf) unselect();
  if (::rename(pf->c_str(), pt->c_str()) != 0) {
    log::warn("%s: rename %s: %s", label_.c_str(), pf->c_str(), std::strerror(errno));
    return no(c, "[SERVERBUG] cannot rename the mailbox");
  }
  for (const auto& f : folders) {
    if (!f.starts_with(from + "/")) continue;
    auto a = folder_path(root_, f), b = folder_path(root_, to + f.substr(from.size()));
    if (a && b && ::rename(a->c_str(), b->c_str()) != 0)
      log::warn("%s: rename %s: %s", label_.c_str(), a->c_str(), std::strerror(errno));
  }
  ok(c, "RENAME completed");
}

void Session::cmd_subscribe(Command& c, bool) {
  if (c.args.size() != 1 || !c.args[0].is_string()) return bad(c, c.name + " wants a mailbox name");
  std::string name = mailbox_arg(c.args[0]);
  if (!folder_path(root_, name)) return no(c, "[CANNOT] invalid mailbox name");
  auto subs = read_subscriptions(root_);
  auto it = std::find(subs.begin(), subs.end(), name);
  if (c.name == "SUBSCRIBE") {
    if (it == subs.end()) subs.push_back(name);
  } else {
    if (it == subs.end()) return no(c, "[NONEXISTENT] not subscribed");
    subs.erase(it);
  }
  if (auto st = write_subscriptions(root_, subs); !st) {
    log::warn("%s: %s", label_.c_str(), st.error().c_str());
    return no(c, "[SERVERBUG] cannot write the subscriptions");
  }
  ok(c, c.name + " completed");
}

namespace {

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

void Session::cmd_append(Command& c, bool) {
  if (c.args.size() < 2 || !c.args[0].is_string()) return bad(c, "APPEND wants a mailbox name and a message");
  struct Item {
    std::string letters;
    time_t date = 0;
    const std::string* text = nullptr;
  };
  std::vector<Item> items;
  size_t i = 1;
  while (i < c.args.size()) {
    Item it;
    if (c.args[i].is_list()) {
      if (!letters_of(c.args[i], &it.letters)) return bad(c, "APPEND: invalid flag");
      ++i;
    }
    if (i + 1 < c.args.size() && c.args[i].type == Value::Type::String && !c.args[i].literal) {
      it.date = parse_date_time(c.args[i].text);
      if (it.date < 0) return bad(c, "APPEND: invalid date-time");
      ++i;
    }
    if (i >= c.args.size() || c.args[i].type != Value::Type::String) return bad(c, "APPEND: missing message literal");
    if (c.args[i].text.size() > s_.append_limit) return no(c, "[TOOBIG] message over APPENDLIMIT");
    it.text = &c.args[i].text;
    items.push_back(it);
    ++i;
  }
  std::string name = mailbox_arg(c.args[0]);
  auto path = folder_path(root_, name);
  if (!path) return no(c, "[CANNOT] invalid mailbox name");
  if (!mailbox::Maildir::open(*path)) return no(c, "[TRYCREATE] no such mailbox");
  std::vector<std::string> keys;
  for (const auto& it : items) {
    auto key = store_message(*path, *it.text, it.letters, it.date);
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
  ok(c, all ? "[APPENDUID " + std::to_string(validity) + " " + uid_set_text(uids) + "] APPEND completed"
            : "APPEND completed");
}

void Session::cmd_copy(Command& c, bool uid) {
  bool move = c.name == "MOVE";
  if (c.args.size() != 2 || !c.args[0].is_atom() || !c.args[1].is_string())
    return bad(c, c.name + " wants a sequence set and a mailbox name");
  if (move && read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  std::vector<size_t> idx;
  std::string why;
  if (!resolve_set(c.args[0].text, uid, &idx, &why)) return bad(c, why);
  std::string name = mailbox_arg(c.args[1]);
  auto path = folder_path(root_, name);
  if (!path) return no(c, "[CANNOT] invalid mailbox name");
  if (!mailbox::Maildir::open(*path)) return no(c, "[TRYCREATE] no such mailbox");
  std::vector<uint32_t> src;
  std::vector<std::string> keys;
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    auto text = box_->read(as_message(m), s_.append_limit * 4);
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
  std::string code = all ? "[COPYUID " + std::to_string(validity) + " " + uid_set_text(src) + " " +
                               uid_set_text(dst) + "] "
                         : "";
  if (!move) return ok(c, code + "COPY completed");
  out("* OK " + code + "moved\r\n");
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    if (auto st = box_->remove(as_message(m)); !st) {
      log::warn("%s: %s", label_.c_str(), st.error().c_str());
      continue;
    }
    m.gone = true;
  }
  if (auto st = box_->sync(); !st) log::warn("%s: %s", label_.c_str(), st.error().c_str());
  report_expunges();
  ok(c, "MOVE completed");
}

void Session::cmd_expunge(Command& c, bool uid) {
  if (read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  if (uid) {
    if (c.args.size() != 1 || !c.args[0].is_atom()) return bad(c, "UID EXPUNGE wants a UID set");
    std::vector<size_t> idx;
    std::string why;
    if (!resolve_set(c.args[0].text, true, &idx, &why)) return bad(c, why);
    expunge_deleted(&idx, false);
  } else {
    if (!c.args.empty()) return bad(c, "EXPUNGE takes no arguments");
    expunge_deleted(nullptr, false);
  }
  ok(c, "EXPUNGE completed");
}

void Session::cmd_idle(Command& c, bool) {
  if (!c.args.empty()) return bad(c, "IDLE takes no arguments");
  if (state_ == State::Selected) sync(true);
  out("+ idling\r\n");
  flush();
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
