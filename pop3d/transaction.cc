// pop3d/transaction.cc - STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT.
#include "pop3d/transaction.h"

#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/pop3/reply.h"

namespace postilion::pop3d {

using pop3::Verb;

Transaction::Transaction(mailbox::Mailbox box, uint64_t size_limit)
    : box_(std::move(box)), snap_(box_.view()), deleted_(snap_.messages.size(), false), size_limit_(size_limit) {}

size_t Transaction::count() const {
  size_t n = 0;
  for (bool d : deleted_) n += d ? 0 : 1;
  return n;
}

uint64_t Transaction::octets() const {
  uint64_t n = 0;
  for (size_t i = 0; i < deleted_.size(); ++i)
    if (!deleted_[i]) n += snap_.messages[i].vsize;
  return n;
}

std::string Transaction::uidl(size_t i) const {
  return str::format("%08X%08X", snap_.messages[i].uid, snap_.uid_validity);
}

const mailbox::Message* Transaction::find(uint64_t n, std::string* err) const {
  if (n == 0 || n > snap_.messages.size()) {
    *err = pop3::err("no such message");
    return nullptr;
  }
  if (deleted_[n - 1]) {
    *err = pop3::err(str::format("message %llu already deleted", static_cast<unsigned long long>(n)));
    return nullptr;
  }
  return &snap_.messages[n - 1];
}

std::string Transaction::retr(uint64_t n, std::optional<uint64_t> top) {
  std::string e;
  const mailbox::Message* m = find(n, &e);
  if (!m) return e;
  auto text = box_.read(*m, size_limit_);
  if (!text) {
    if (text.error().code() == ENOENT) {
      stats_.expunged++;
      return pop3::err("message was removed by another session");
    }
    if (text.error().code() == EFBIG) return pop3::err("message too big to read");
    log::warn("%s", text.error().c_str());
    return pop3::err(pop3::Code::SysTemp, "cannot read message; try again later");
  }
  std::string out = pop3::ok(top ? "top of message follows"
                                 : str::format("%llu octets", static_cast<unsigned long long>(m->vsize)));
  out += pop3::encode_message(*text, top);
  if (top) {
    stats_.top++;
  } else {
    stats_.retr++;
    stats_.retr_bytes += m->vsize;
  }
  return out;
}

std::string Transaction::update() {
  std::vector<uint32_t> uids;
  for (size_t i = 0; i < deleted_.size(); ++i)
    if (deleted_[i]) uids.push_back(snap_.messages[i].uid);
  if (uids.empty()) return pop3::ok("bye (0 messages deleted)");
  // One call: the files go (fsync'd) and the index records the expunges, so IMAP
  // sessions report them. A message another session already removed or moved counts
  // as deleted: it is gone, as the client asked.
  auto gone = box_.expunge(uids);
  if (!gone) {
    log::warn("%s", gone.error().c_str());
    return pop3::err(pop3::Code::SysTemp, "some deleted messages not removed");
  }
  stats_.deleted = uids.size();
  return pop3::ok(str::format("bye (%zu messages deleted)", uids.size()));
}

std::string Transaction::handle(const pop3::Command& cmd, bool* quit) {
  *quit = false;
  std::string e;
  switch (cmd.verb) {
    case Verb::Stat:
      return pop3::ok(str::format("%zu %llu", count(), static_cast<unsigned long long>(octets())));
    case Verb::List:
    case Verb::Uidl: {
      bool list = cmd.verb == Verb::List;
      auto line = [&](size_t i) {
        return list ? str::format("%zu %llu", i + 1, static_cast<unsigned long long>(snap_.messages[i].vsize))
                    : str::format("%zu %s", i + 1, uidl(i).c_str());
      };
      if (cmd.msg) {
        if (!find(*cmd.msg, &e)) return e;
        return pop3::ok(line(*cmd.msg - 1));
      }
      std::vector<std::string> lines;
      lines.reserve(snap_.messages.size());
      for (size_t i = 0; i < snap_.messages.size(); ++i)
        if (!deleted_[i]) lines.push_back(line(i));
      return pop3::multiline(list ? str::format("%zu messages (%llu octets)", count(),
                                                static_cast<unsigned long long>(octets()))
                                  : "unique-id listing follows",
                             lines);
    }
    case Verb::Retr:
      return retr(*cmd.msg, std::nullopt);
    case Verb::Top:
      return retr(*cmd.msg, cmd.lines);
    case Verb::Dele:
      if (!find(*cmd.msg, &e)) return e;
      deleted_[*cmd.msg - 1] = true;
      return pop3::ok(str::format("message %llu deleted", static_cast<unsigned long long>(*cmd.msg)));
    case Verb::Rset:
      deleted_.assign(deleted_.size(), false);
      return pop3::ok(str::format("maildrop has %zu messages (%llu octets)", count(),
                                  static_cast<unsigned long long>(octets())));
    case Verb::Noop:
      return pop3::ok("");
    case Verb::Quit:
      *quit = true;
      return update();
    case Verb::Capa: {
      pop3::Capabilities c;
      c.implementation = "Postilion";
      return pop3::multiline("capability list follows", pop3::capa_lines(c));
    }
    case Verb::User: case Verb::Pass: case Verb::Apop: case Verb::Stls: case Verb::Auth:
      return pop3::err("command not valid after login");
  }
  return pop3::err("unknown command");
}

}  // namespace postilion::pop3d
