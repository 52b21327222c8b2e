// imapd/imap_session.cc - the session loop, the command table and the selected
// mailbox's state; the handlers live in commands.cc, fetch.cc and search.cc.
#include "imapd/imap_session.h"

#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "imapd/folders.h"
#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/response.h"
#include "lib/log/log.h"
#include "lib/mail/header.h"

namespace postilion::imapd {

const Session::CommandSpec Session::kCommands[] = {
    {"CAPABILITY", &Session::cmd_capability, false, false},
    {"NOOP", &Session::cmd_noop, false, false},
    {"LOGOUT", &Session::cmd_logout, false, false},
    {"ID", &Session::cmd_id, false, false},
    {"ENABLE", &Session::cmd_enable, false, false},
    {"NAMESPACE", &Session::cmd_namespace, false, false},
    {"SELECT", &Session::cmd_select, false, false},
    {"EXAMINE", &Session::cmd_select, false, false},
    {"LIST", &Session::cmd_list, false, false},
    {"LSUB", &Session::cmd_list, false, false},
    {"STATUS", &Session::cmd_status, false, false},
    {"CREATE", &Session::cmd_create, false, false},
    {"DELETE", &Session::cmd_delete, false, false},
    {"RENAME", &Session::cmd_rename, false, false},
    {"SUBSCRIBE", &Session::cmd_subscribe, false, false},
    {"UNSUBSCRIBE", &Session::cmd_subscribe, false, false},
    {"APPEND", &Session::cmd_append, false, false},
    {"IDLE", &Session::cmd_idle, false, false},
    {"CHECK", &Session::cmd_check, true, false},
    {"CLOSE", &Session::cmd_close, true, false},
    {"UNSELECT", &Session::cmd_close, true, false},
    {"EXPUNGE", &Session::cmd_expunge, true, true},
    {"FETCH", &Session::cmd_fetch, true, true},
    {"STORE", &Session::cmd_store, true, true},
    {"SEARCH", &Session::cmd_search, true, true},
    {"COPY", &Session::cmd_copy, true, true},
    {"MOVE", &Session::cmd_copy, true, true},
    {"STARTTLS", &Session::cmd_not_now, false, false},
    {"LOGIN", &Session::cmd_not_now, false, false},
    {"AUTHENTICATE", &Session::cmd_not_now, false, false},
};

Session::Session(const Settings& s, int fd, std::string root, std::string label)
    : s_(s), fd_(fd), root_(std::move(root)), label_(std::move(label)),
      reader_(imap::ReaderLimits{.max_line = s.line_limit,
                                 .max_literal = s.literal_limit,
                                 .max_append_literal = static_cast<size_t>(s.append_limit),
                                 .max_command = static_cast<size_t>(s.append_limit) + 4 * s.line_limit}) {}

bool Session::fill(int timeout_ms) {
  char buf[65536];
  for (;;) {
    struct pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    in_.append(buf, static_cast<size_t>(got));
    return true;
  }
}

void Session::flush() {
  if (out_.empty()) return;
  if (auto st = file::write_all(fd_, out_); !st) state_ = State::Logout;
  out_.clear();
}

void Session::run() {
  while (state_ != State::Logout) {
    size_t used = 0;
    auto st = reader_.feed(in_, &used);
    in_.erase(0, used);
    switch (st) {
      case imap::CommandReader::Status::NeedMore:
        flush();
        if (!fill(static_cast<int>(s_.timeout_ms))) {
          if (!reader_.idle()) log::info("%s: connection ended inside a command", label_.c_str());
          out("* BYE idle timeout or connection closed\r\n");
          flush();
          return;
        }
        continue;
      case imap::CommandReader::Status::Continue:
        out("+ OK\r\n");
        flush();
        continue;
      case imap::CommandReader::Status::Line:  // only IDLE reads lines, and by itself
        continue;
      case imap::CommandReader::Status::Error:
        out(reader_.error().reply);
        if (reader_.error().fatal) {
          out("* BYE protocol error, closing connection\r\n");
          state_ = State::Logout;
          break;
        }
        count_error();
        continue;
      case imap::CommandReader::Status::Command: {
        imap::Command c = reader_.take_command();
        dispatch(c);
        flush();
        continue;
      }
    }
  }
  flush();
}

void Session::count_error() {
  if (++errors_ >= s_.error_limit) {
    out("* BYE too many errors, closing connection\r\n");
    log::warn("%s: too many errors", label_.c_str());
    state_ = State::Logout;
  }
}

void Session::bad(const imap::Command& c, const std::string& text) {
  out(imap::tagged(c.tag, "BAD", "", text));
  count_error();
}

void Session::tagged_reply(const std::string& tag, const char* kind, const std::string& text) {
  // Untagged news goes before the tagged reply that ends the command.
  if (state_ == State::Selected) sync(allow_expunge_);
  out(imap::tagged(tag, kind, "", text));
}

void Session::dispatch(imap::Command& c) {
  bool uid = c.uid;
  for (const CommandSpec& spec : kCommands) {
    if (c.name != spec.name) continue;
    if (uid && !spec.uid_form) return bad(c, "UID " + c.name + " is not a command");
    if (spec.selected_only && state_ != State::Selected) return bad(c, c.name + " needs a selected mailbox");
    // RFC 3501 7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH by number.
    allow_expunge_ = uid || (c.name != "FETCH" && c.name != "STORE" && c.name != "SEARCH" && c.name != "COPY");
    (this->*spec.handler)(c, uid);
    allow_expunge_ = true;
    return;
  }
  bad(c, "unknown command");
}

std::optional<std::string> Session::folder_of(const std::string& wire, bool for_create, std::string* name,
                                              std::string* why) const {
  auto n = imap::wire_to_name(wire, false, for_create, why);
  if (!n) {
    *why = "[CANNOT] " + *why;
    return std::nullopt;
  }
  *name = *n;
  return folder_path(root_, *n);
}

// ---- the selected mailbox -------------------------------------------------------

std::optional<mailbox::Message> Session::as_message(const Msg& m) const {
  const mailbox::Message* v = box_ ? box_->find(m.uid) : nullptr;
  if (!v) return std::nullopt;  // expunged: the last refresh no longer lists it
  mailbox::Message mm;
  mm.uid = m.uid;
  mm.key = v->key;
  mm.file = file_of(m, *v);
  mm.flags = m.letters;
  mm.vsize = m.vsize;
  mm.internal_date = v->internal_date;
  return mm;
}

const std::string& Session::file_of(const Msg& m, const mailbox::Message& v) const {
  auto it = renamed_.find(m.uid);
  return it != renamed_.end() ? it->second : v.file;
}

namespace {

// The current name (relative) of the message with key in a Maildir, "" when gone.
std::string locate(const std::string& dir, const std::string& key) {
  for (const char* sub : {"cur", "new"}) {
    DIR* d = ::opendir((dir + "/" + sub).c_str());
    if (!d) continue;
    std::string found;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n == key || (n.size() > key.size() && n.starts_with(key) && n[key.size()] == ':')) {
        found = std::string(sub) + "/" + std::string(n);
        break;
      }
    }
    ::closedir(d);
    if (!found.empty()) return found;
  }
  return "";
}

}  // namespace

bool Session::set_letters(Msg& m, const std::string& wanted) {
  const mailbox::Message* v = box_ ? box_->find(m.uid) : nullptr;
  if (!v) return false;
  std::string letters = normalize_letters(wanted);
  std::string file = file_of(m, *v);
  if (letters == m.letters && file.rfind("cur/", 0) == 0) return true;
  std::string to = "cur/" + v->key + ":2," + letters;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::rename((folder_path_ + "/" + file).c_str(), (folder_path_ + "/" + to).c_str()) == 0) {
      renamed_[m.uid] = to;
      m.letters = letters;
      return true;
    }
    if (errno != ENOENT) break;
    // Another session renamed it since: find its name now and try once more.
    file = locate(folder_path_, v->key);
    if (file.empty()) break;
  }
  return false;
}

time_t Session::internal_date(const Msg& m) const {
  auto mm = as_message(m);
  if (!mm) return 0;
  if (mm->internal_date > 0) return static_cast<time_t>(mm->internal_date);
  struct stat st;
  if (::stat((folder_path_ + "/" + mm->file).c_str(), &st) == 0) return st.st_mtime;
  auto t = str::parse_uint(std::string_view(mm->key).substr(0, mm->key.find('.')));
  return t ? static_cast<time_t>(*t) : 0;
}

Result<std::string> Session::content(Msg& m) {
  if (cached_uid_ == m.uid && cached_uid_ != 0) return cached_;
  auto mm = as_message(m);
  if (!mm) return Error(folder_path_ + ": message " + std::to_string(m.uid) + " expunged", ENOENT);
  auto text = box_->read(*mm);
  if (!text) return text;
  cached_ = mail::to_crlf(*text);
  cached_uid_ = m.uid;
  return cached_;
}

std::string Session::flags_of(const Msg& m) const { return flags_to_imap(m.letters, m.recent); }

bool Session::select_folder(const std::string& name, bool read_only, std::string* why) {
  std::string utf8;
  auto path = folder_of(name, false, &utf8, why);
  if (!path) return false;
  auto box = mailbox::Maildir::open(*path);
  if (!box) {
    *why = "[NONEXISTENT] no such mailbox";
    return false;
  }
  if (auto ch = box->refresh(); !ch) {
    log::warn("%s: %s", label_.c_str(), ch.error().c_str());
    *why = "[SERVERBUG] cannot read the mailbox";
    return false;
  }
  // Kept for the session: each later sync() refreshes it by what changed.
  box_.emplace(std::move(*box));
  renamed_.clear();
  const mailbox::Snapshot* snap = &box_->view();
  folder_name_ = utf8;
  folder_path_ = *path;
  read_only_ = read_only;
  uid_validity_ = snap->uid_validity;
  next_uid_ = snap->next_uid;
  msgs_.clear();
  msgs_.reserve(snap->messages.size());
  cached_uid_ = 0;
  for (auto& m : snap->messages) {
    Msg x{m.uid, normalize_letters(m.flags), m.vsize, false, false};
    // A message still in new/ is \Recent for the first read-write session that sees
    // it: moving it to cur/ is the claim (a rename only one session can win).
    if (!read_only_ && m.is_new()) x.recent = set_letters(x, x.letters);
    msgs_.push_back(std::move(x));
  }
  state_ = State::Selected;
  return true;
}

void Session::unselect() {
  box_.reset();
  renamed_.clear();
  msgs_.clear();
  folder_name_.clear();
  folder_path_.clear();
  cached_uid_ = 0;
  state_ = State::Authenticated;
}

void Session::sync(bool allow_expunge) {
  if (!box_) return;
  auto ch = box_->refresh();
  if (!ch) {
    log::warn("%s: %s", label_.c_str(), ch.error().c_str());
    return;
  }
  renamed_.clear();  // the view has every rename of this session now
  const mailbox::Snapshot* snap = &box_->view();
  if (ch->empty() && snap->uid_validity == uid_validity_) {
    // Nothing new on disk since the last look: only expunges held back by an
    // earlier FETCH, STORE or SEARCH by number may still be due.
    if (allow_expunge) report_expunges();
    next_uid_ = snap->next_uid;
    return;
  }
  if (snap->uid_validity != uid_validity_) {
    out("* BYE the mailbox's UIDs were renumbered; please reconnect\r\n");
    log::warn("%s: %s: UIDVALIDITY changed under the session", label_.c_str(), folder_name_.c_str());
    state_ = State::Logout;
    return;
  }
  const auto& now = snap->messages;
  size_t j = 0;
  for (size_t i = 0; i < msgs_.size(); ++i) {
    Msg& m = msgs_[i];
    while (j < now.size() && now[j].uid < m.uid) ++j;
    if (j < now.size() && now[j].uid == m.uid) {
      std::string letters = normalize_letters(now[j].flags);
      if (letters != m.letters && !m.gone && !now[j].is_new()) {
        m.letters = letters;
        out("* " + std::to_string(i + 1) + " FETCH (FLAGS " + flags_of(m) + ")\r\n");
      }
      ++j;
    } else {
      m.gone = true;
    }
  }
  if (allow_expunge) report_expunges();
  uint32_t last = msgs_.empty() ? 0 : msgs_.back().uid;
  size_t added = 0, recent = 0;
  for (const auto& n : now) {
    if (n.uid <= last) continue;
    Msg x{n.uid, normalize_letters(n.flags), n.vsize, false, false};
    if (!read_only_ && n.is_new()) x.recent = set_letters(x, x.letters);
    msgs_.push_back(std::move(x));
    ++added;
  }
  for (const auto& m : msgs_) recent += m.recent ? 1 : 0;
  if (added) {
    out("* " + std::to_string(msgs_.size()) + " EXISTS\r\n");
    out("* " + std::to_string(recent) + " RECENT\r\n");
  }
  next_uid_ = snap->next_uid;
}

void Session::report_expunges() {
  size_t i = 0;
  while (i < msgs_.size()) {
    if (!msgs_[i].gone) {
      ++i;
      continue;
    }
    out("* " + std::to_string(i + 1) + " EXPUNGE\r\n");
    if (cached_uid_ == msgs_[i].uid) cached_uid_ = 0;
    msgs_.erase(msgs_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void Session::expunge_deleted(const std::vector<size_t>* only, bool silent) {
  std::vector<size_t> all;
  if (!only) {
    for (size_t i = 0; i < msgs_.size(); ++i) all.push_back(i);
    only = &all;
  }
  bool removed = false;
  for (size_t i : *only) {
    Msg& m = msgs_[i];
    if (m.gone || m.letters.find('T') == std::string::npos) continue;
    auto mm = as_message(m);
    if (!mm) continue;  // gone already; reported by the next sync()
    if (auto st = box_->remove(*mm); !st) {
      log::warn("%s: %s", label_.c_str(), st.error().c_str());
      continue;
    }
    m.gone = removed = true;
    ++stats_.expunged;
  }
  if (removed) {
    if (auto st = box_->sync(); !st) log::warn("%s: %s", label_.c_str(), st.error().c_str());
  }
  if (!silent) report_expunges();
}

bool Session::resolve_set(const imap::SequenceSet& set, bool uid, std::vector<size_t>* idx, std::string* why) const {
  idx->clear();
  uint32_t max = uid ? (msgs_.empty() ? 0 : msgs_.back().uid) : static_cast<uint32_t>(msgs_.size());
  if (!uid) {
    // A message number past the last message names nothing: an error, not an empty set.
    for (const auto& r : set.ranges)
      if ((r.lo != imap::kStar && r.lo > max) || (r.hi != imap::kStar && r.hi > max) ||
          (max == 0 && (r.lo == imap::kStar || r.hi == imap::kStar))) {
        *why = "Invalid messageset: no such message";
        return false;
      }
  }
  for (size_t i = 0; i < msgs_.size(); ++i)
    if (set.contains(uid ? msgs_[i].uid : static_cast<uint32_t>(i + 1), max)) idx->push_back(i);
  return true;
}

}  // namespace postilion::imapd
