// local/deliver.cc - local recipient expansion and delivery decisions.
#include "local/deliver.h"

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/address.h"
#include "lib/mail/header.h"
#include "local/command.h"
#include "local/expand.h"
#include "local/mbox.h"

namespace postilion::local {

std::string mailbox_text(const std::string& sender, const std::string& delivered_to,
                         std::string_view content) {
  // For the reader: the bytes as they came (an SMTPUTF8 address stays UTF-8).
  std::string out = "Return-Path: <" + str::header_text(sender, 990) + ">\n";
  out += "Delivered-To: " + str::header_text(delivered_to, 990) + "\n";
  out += mail::to_lf(content);
  return out;
}

namespace {

// One delivery's walk through aliases, .forward and includes.
class Expander {
 public:
  Expander(const Settings& s, Environment& env, const Delivery& d) : s_(s), env_(env), d_(d) {}

  Outcome run(std::vector<Expanded>* bounced) {
    auto a = mail::parse_address(d_.recipient);
    if (!a || a->local.empty()) return Outcome::bounce("5.1.3", "bad address syntax");
    domain_ = a->domain.empty() ? s_.myhostname : a->domain;
    // Mail loop: this recipient's Delivered-To is already in the message.
    if (has_delivered_to(d_.content, d_.recipient)) return Outcome::bounce("5.4.6", "mail forwarding loop for " + d_.recipient);
    address(a->local, 0, nullptr);
    return sum(bounced);
  }

 private:
  // what: the destination as expanded (user@domain, |command, /file, :include:/path).
  void note(Outcome o, std::string what) {
    outcomes_.push_back(std::move(o));
    whats_.push_back(std::move(what));
  }
  std::string here(const std::string& local_part) const { return mail::Address{local_part, domain_}.str(); }

  Outcome sum(std::vector<Expanded>* bounced) {
    if (outcomes_.empty()) return Outcome::bounce("5.1.1", "alias or .forward with no targets");
    const Outcome* bounce = nullptr;
    size_t sent = 0;
    for (const auto& o : outcomes_) {
      if (o.kind == Outcome::Kind::Defer) return o;
      if (o.kind == Outcome::Kind::Bounce && !bounce) bounce = &o;
      if (o.kind == Outcome::Kind::Sent) ++sent;
    }
    if (bounce && (sent == 0 || !bounced)) return *bounce;
    if (bounce) {
      // Partly bounced: the recipient is done (its delivered copies must not be made
      // again); each failed destination is reported on its own.
      for (size_t i = 0; i < outcomes_.size(); ++i)
        if (outcomes_[i].kind == Outcome::Kind::Bounce) bounced->push_back({whats_[i], outcomes_[i]});
      return Outcome::sent(str::format("delivered to %zu of %zu destinations", sent, outcomes_.size()));
    }
    if (outcomes_.size() == 1) return outcomes_[0];
    return Outcome::sent(str::format("delivered to %zu destinations", outcomes_.size()));
  }

  // A local name (the part before @), possibly from an alias; `as` is the user whose
  // .forward or :include: named it (for the rights of commands and files), or null.
  void address(const std::string& local_part, int depth, const User* as) {
    if (depth > s_.max_depth) return note(Outcome::bounce("5.4.6", "alias expansion too deep"), here(local_part));
    bool no_alias = !local_part.empty() && local_part[0] == '\\';
    std::string lp = no_alias ? local_part.substr(1) : local_part;
    std::string name = user_name(lp, s_.recipient_delimiter);
    // A name inside its own expansion ("bob: bob, archive") means bob's mailbox.
    if (expanding_.count(name)) no_alias = true;
    else if (!seen_.insert(name).second) return;  // already delivered once here
    if (!no_alias) {
      // Full local part (user+ext) first, then the user alone, as Postfix does.
      auto v = env_.alias(str::lower(lp));
      if (v && !*v && str::lower(lp) != name) v = env_.alias(name);
      if (!v) return note(Outcome::defer("4.3.0", "alias table lookup failed: " + v.error().str()), here(lp));
      if (*v) {
        User privs = env_.privileged_default();
        expanding_.insert(name);
        targets(**v, depth + 1, privs, "alias " + name, name);
        expanding_.erase(name);
        return;
      }
    }
    auto u = env_.user(name);
    if (!u) return unknown(lp, name, depth, as);
    if (!no_alias && depth < s_.max_depth) {
      auto fwd = env_.read_owned(file::join(u->home, ".forward"), *u);
      if (!fwd && fwd.error().temporary())
        return note(Outcome::defer("4.3.0", "cannot read .forward: " + fwd.error().str()), here(lp));
      // An unsafe .forward (a permanent error: another owner, writable by group or
      // others, a symbolic link) is ignored, as sendmail does - with a warning, so the
      // administrator can see why forwarding stopped.
      if (!fwd)
        log::warn("%s: ignoring .forward of %s: %s", d_.queue_id.c_str(), str::printable(name, 100).c_str(),
                  str::printable(fwd.error().str(), 300).c_str());
      if (fwd && *fwd) {
        if (!parse_targets(**fwd, nullptr).empty()) {
          expanding_.insert(name);
          targets(**fwd, depth + 1, *u, "~/.forward of " + name, name);
          expanding_.erase(name);
          return;
        }
      }
    }
    (void)as;
    mailbox(*u, lp);
  }

  // A local name that is neither an alias nor a user: luser_relay, else a bounce. The
  // relay address is delivered like an alias target, once: an unknown name met while
  // delivering to it bounces (no relay to itself).
  void unknown(const std::string& lp, const std::string& name, int depth, const User* as) {
    std::string unknown_user = "unknown user: \"" + str::printable(name, 64) + "\"";
    if (s_.luser_relay.empty() || relaying_) return note(Outcome::bounce("5.1.1", unknown_user), here(lp));
    User nobody{name, 0, 0, "", ""};
    std::string relay = expand_vars(s_.luser_relay, recipient_vars(s_, nobody, here(lp), d_.sender), nullptr);
    auto a = mail::parse_address(relay);
    if (!a || a->local.empty())
      return note(Outcome::bounce("5.3.5", "luser_relay: bad address \"" + str::printable(relay, 100) + "\""), here(lp));
    if (a->domain.empty() || mail::domain_in(a->domain, s_.mydestination)) {
      relaying_ = true;
      address(a->local, depth + 1, as);
      relaying_ = false;
      return;
    }
    forward(*a);
  }

  // Forwards the message to a remote address, once per address: with the Delivered-To
  // line of this recipient, without Return-Path (added again at the final delivery).
  void forward(const mail::Address& a) {
    if (!seen_.insert("fwd:" + str::lower(a.str())).second) return;
    std::string text = mailbox_text(d_.sender, d_.recipient, d_.content);
    note(env_.forward(d_.sender, a.str(), text.substr(text.find('\n') + 1)), a.str());
  }

  void mailbox(const User& u, const std::string& local_part) {
    std::string delivered_to = mail::Address{local_part, domain_}.str();
    if (delivered_to != d_.recipient && has_delivered_to(d_.content, delivered_to))
      return note(Outcome::bounce("5.4.6", "mail forwarding loop for " + delivered_to), delivered_to);
    std::string text = mailbox_text(d_.sender, delivered_to, d_.content);
    // mailbox_command_maps, then mailbox_command, then home_mailbox (Postfix's order).
    auto mapped = env_.mailbox_command_map(u.name);
    if (!mapped)
      return note(Outcome::defer("4.3.0", "mailbox_command_maps lookup failed: " + mapped.error().str()), delivered_to);
    const std::string& command = *mapped ? **mapped : s_.mailbox_command;
    if (!str::trim(command).empty()) {
      std::string line = expand_vars(command, command_vars(s_, u, delivered_to, d_), &kCommandExpansionFilter);
      // Never as root: root's mail runs with default_privs, as in Postfix.
      User as = u.uid == 0 ? env_.privileged_default() : u;
      // The command's RECIPIENT, LOCAL, EXTENSION: the address delivered to (after
      // aliases and luser_relay), as in Postfix.
      Delivery final = d_;
      final.recipient = delivered_to;
      // As Postfix gives it to a command: the "From " envelope line, then the headers.
      return note(env_.command(as, line, mbox_from_line(d_.sender, file::now_us() / 1000000) + text, final),
                  delivered_to);
    }
    if (s_.home_mailbox.empty())
      return note(env_.mbox(u, file::join(s_.mail_spool_directory, u.name), text), delivered_to);
    std::string path = file::join(u.home, s_.home_mailbox);
    if (s_.home_mailbox.back() == '/') return note(env_.maildir(u, path, text), delivered_to);
    note(env_.mbox(u, path, text), delivered_to);
  }

  void targets(const std::string& text, int depth, const User& as, const std::string& where,
               const std::string& owner_name) {
    std::vector<std::string> errors;
    auto list = parse_targets(text, &errors);
    for (const auto& e : errors) warnings_.push_back(where + ": " + e);
    if (list.empty()) return note(Outcome::bounce("5.1.1", where + " has no valid targets"), here(owner_name));
    for (const auto& t : list) {
      switch (t.kind) {
        case Target::Kind::Address: {
          auto a = mail::parse_address(t.value[0] == '\\' ? t.value.substr(1) : t.value);
          if (!a) break;
          bool local = a->domain.empty() || mail::domain_in(a->domain, s_.mydestination);
          if (local) {
            // "\user" in a user's own .forward: that user's mailbox, no further aliasing.
            std::string lp = t.value[0] == '\\' ? "\\" + a->local : a->local;
            address(lp, depth, &as);
          } else {
            forward(*a);
          }
          break;
        }
        case Target::Kind::Command:
          if (!s_.allow_commands) {
            note(Outcome::bounce("5.7.1", "mail to command is not allowed"), "|" + t.value);
            break;
          }
          if (!seen_.insert("cmd:" + t.value).second) break;
          note(env_.command(as, t.value, mailbox_text(d_.sender, d_.recipient, d_.content), d_), "|" + t.value);
          break;
        case Target::Kind::File:
          if (!s_.allow_files) {
            note(Outcome::bounce("5.7.1", "mail to file is not allowed"), t.value);
            break;
          }
          if (!seen_.insert("file:" + t.value).second) break;
          note(env_.mbox(as, t.value, mailbox_text(d_.sender, d_.recipient, d_.content)), t.value);
          break;
        case Target::Kind::Include: {
          if (depth > s_.max_depth) {
            note(Outcome::bounce("5.4.6", "include nesting too deep"), ":include:" + t.value);
            break;
          }
          if (!seen_.insert("inc:" + t.value).second) break;
          auto inc = env_.read_owned(t.value, as);
          if (!inc) {
            if (inc.error().temporary()) note(Outcome::defer("4.3.0", ":include: " + inc.error().str()), ":include:" + t.value);
            else note(Outcome::bounce("5.3.5", ":include: " + inc.error().str()), ":include:" + t.value);
          } else if (!*inc) {
            note(Outcome::bounce("5.3.5", ":include: " + t.value + ": no such file"), ":include:" + t.value);
          } else {
            targets(**inc, depth + 1, as, ":include:" + t.value, owner_name);
          }
          break;
        }
      }
    }
  }

  const Settings& s_;
  Environment& env_;
  const Delivery& d_;
  std::string domain_;
  std::set<std::string> seen_;
  std::set<std::string> expanding_;
  bool relaying_ = false;  // delivering to the luser_relay address
  std::vector<Outcome> outcomes_;
  std::vector<std::string> whats_;  // beside outcomes_

 public:
  std::vector<std::string> warnings_;
};

}  // namespace

Outcome deliver(const Settings& s, Environment& env, const Delivery& d,
                std::vector<std::string>* warnings, std::vector<Expanded>* bounced) {
  EndDelivery end{env};  // the writes may leave the user's ids in effect
  Expander e(s, env, d);
  Outcome o = e.run(bounced);
  if (warnings) *warnings = std::move(e.warnings_);
  return o;
}

}  // namespace postilion::local
