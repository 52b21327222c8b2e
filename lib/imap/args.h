// lib/imap/args.h - typed arguments of the IMAP4rev1 commands (RFC 3501 6) and of the
// extensions imapd offers: STORE, APPEND (MULTIAPPEND), STATUS, LIST/LSUB, SELECT and
// EXAMINE parameters, AUTHENTICATE (SASL-IR), ENABLE, ID, COPY/MOVE, flags.
//
// Contract: each parser takes the argument tree from CommandReader and returns the
// typed request or an error text for a tagged BAD; nothing throws. Mailbox names are
// returned as sent (modified UTF-7); lib/imap/mailbox_name.h turns them into UTF-8.
// Room for the next issue: STORE's UNCHANGEDSINCE, SELECT's CONDSTORE/QRESYNC, STATUS
// HIGHESTMODSEQ/SIZE, LIST selection/return options are already read here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lib/imap/command.h"
#include "lib/imap/datetime.h"
#include "lib/imap/sequence.h"

namespace postilion::imap {

constexpr size_t kMaxFlags = 256;
constexpr size_t kMaxFlagLength = 128;

template <class T>
using Parsed = std::variant<T, std::string>;  // the value, or a BAD text

template <class T>
const std::string* parse_error(const Parsed<T>& p) { return std::get_if<std::string>(&p); }

// An astring argument's text (atom, quoted or literal).
std::optional<std::string> astring(const Arg& a);

// A flag: \Seen, \Answered, \Flagged, \Deleted, \Draft (canonical case), \Recent when
// allow_recent, or a keyword atom. nullopt when invalid.
std::optional<std::string> parse_flag(std::string_view s, bool allow_recent = false);
// "(\Seen foo)" or, when bare_ok, one or more flag atoms from args[first..].
Parsed<std::vector<std::string>> parse_flag_list(const Arg& list);

Parsed<SequenceSet> parse_set_arg(const Arg& a);

struct StoreRequest {
  enum class Mode { Replace, Add, Remove };
  Mode mode = Mode::Replace;
  bool silent = false;
  std::vector<std::string> flags;
  std::optional<uint64_t> unchangedsince;  // RFC 7162
};
// args[first] onwards: [(UNCHANGEDSINCE n)] item flags
Parsed<StoreRequest> parse_store(const std::vector<Arg>& args, size_t first);

struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<DateTime> date;
  std::string message;  // the literal's bytes, moved out of the command
  bool binary = false;  // sent as literal8
};
struct AppendRequest {
  std::string mailbox;
  std::vector<AppendMessage> messages;  // more than one: MULTIAPPEND (RFC 3502)
};
// Moves the literals out of args.
Parsed<AppendRequest> parse_append(std::vector<Arg>& args);

enum class StatusItem { Messages, Recent, UidNext, UidValidity, Unseen, HighestModSeq, Size,
                        Deleted, AppendLimit };
struct StatusRequest {
  std::string mailbox;
  std::vector<StatusItem> items;
};
Parsed<StatusRequest> parse_status(const std::vector<Arg>& args);
const char* status_item_name(StatusItem i);

struct ListRequest {
  std::string reference;
  std::vector<std::string> patterns;        // one unless LIST-EXTENDED's list form
  std::vector<std::string> select_options;  // LIST-EXTENDED (uppercase)
  std::vector<std::string> return_options;  // RETURN (...) (uppercase atoms; STATUS keeps its list)
  std::vector<StatusItem> return_status;    // RETURN (STATUS (...)) - LIST-STATUS
};
Parsed<ListRequest> parse_list(const std::vector<Arg>& args);

struct SelectRequest {
  std::string mailbox;
  bool condstore = false;
  std::vector<Arg> qresync;  // (QRESYNC (...)) as sent, parsed when QRESYNC exists
};
Parsed<SelectRequest> parse_select(const std::vector<Arg>& args);

struct AuthenticateRequest {
  std::string mechanism;                 // uppercase
  std::optional<std::string> initial;    // SASL-IR, still base64; "=" is an empty response
};
Parsed<AuthenticateRequest> parse_authenticate(const std::vector<Arg>& args);

struct LoginRequest {
  std::string user, password;
};
Parsed<LoginRequest> parse_login(const std::vector<Arg>& args);

// ENABLE cap...: uppercase capability names.
Parsed<std::vector<std::string>> parse_enable(const std::vector<Arg>& args);

// ID NIL or ID ("name" "value" ...): pairs, value nullopt for NIL. At most 30 pairs,
// names up to 30 bytes, values up to 1024 (RFC 2971 3.3).
Parsed<std::vector<std::pair<std::string, std::optional<std::string>>>> parse_id(const std::vector<Arg>& args);

// COPY/MOVE set mailbox
struct CopyRequest {
  SequenceSet set;
  std::string mailbox;
};
Parsed<CopyRequest> parse_copy(const std::vector<Arg>& args);

// A command that takes exactly n astrings (CREATE, DELETE, SUBSCRIBE, RENAME, ...).
Parsed<std::vector<std::string>> parse_astrings(const std::vector<Arg>& args, size_t n);

}  // namespace postilion::imap
