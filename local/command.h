// local/command.h - the parts of local(8)'s command delivery that are pure logic: the
// $name expansion of mailbox_command and luser_relay (with Postfix's shell-safety
// filter for the values), and the mapping of a command's exit status (sysexits.h)
// to a delivery outcome.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "local/deliver.h"

namespace postilion::local {

// Postfix's default command_expansion_filter: the characters a value may keep when it
// is put into a command line or a command's environment; any other byte becomes '_'.
inline constexpr std::string_view kCommandExpansionFilter =
    "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

// value with every byte outside filter replaced by '_'.
std::string filter_value(std::string_view value, std::string_view filter = kCommandExpansionFilter);

using ExpandVars = std::map<std::string, std::string>;

// Expands the names of vars as $name, ${name} and $(name) in pattern, with the forms of
// Postfix's local(8) (mac_expand): ${name?text} is text when $name is non-empty,
// ${name:text} when it is empty, ${name?{a}:{b}} one of the two; text may hold further
// $name. Everything else is kept as written: a name not in vars ("$EXTENSION",
// "${HOME:-/}"), "$$", a lone '$' - so shell syntax in mailbox_command reaches the
// shell, as in Postfix, where the command reads $EXTENSION from its environment.
// Each value is passed through filter_value when filter is given (mailbox_command), as
// it is (luser_relay) when it is null: only values are filtered, never the pattern.
std::string expand_vars(std::string_view pattern, const ExpandVars& vars,
                        const std::string_view* filter);

// The variables of one recipient: user, home, shell, recipient, extension, domain,
// local, sender, recipient_delimiter (the delimiter found, or the setting).
// A user unknown here (luser_relay) has an empty home and shell.
ExpandVars recipient_vars(const Settings& s, const User& u, const std::string& recipient,
                          const std::string& sender);

// What smtpd recorded about the client in the queue file, as Postfix's local gives it
// to a command: the environment name, the $name of mailbox_command (none for ENVID, as
// in Postfix) and the queue file attribute it comes from.
struct ClientFact {
  const char* env;
  const char* var;
  const char* attribute;
};
inline constexpr ClientFact kClientFacts[] = {
    {"CLIENT_ADDRESS", "client_address", "client_address"},
    {"CLIENT_HOSTNAME", "client_hostname", "client_name"},
    {"CLIENT_HELO", "client_helo", "helo"},
    {"CLIENT_PROTOCOL", "client_protocol", "protocol"},
    {"SASL_METHOD", "sasl_method", "sasl_method"},
    {"SASL_USERNAME", "sasl_username", "sasl_username"},
    {"SASL_SENDER", "sasl_sender", "auth"},  // MAIL FROM's AUTH=, from a trusted client
    {"ENVID", nullptr, "envid"},
};

// The facts the delivery's queue file holds: each with a value, in kClientFacts order.
// None for a delivery without a queue file or mail from sendmail; AUTH=<> (no sender,
// or one smtpd did not trust) is none.
std::vector<std::pair<const ClientFact*, std::string>> client_facts(const Delivery& d);

// recipient_vars and, for mailbox_command, the names of the message: original_recipient
// (as the command's ORIGINAL_RECIPIENT) and the $name of every client fact, empty when
// unknown (so ${client_address?...} tests for it).
ExpandVars command_vars(const Settings& s, const User& u, const std::string& recipient, const Delivery& d);

// A finished command's outcome, as Postfix's pipe_command and sys_exits table decide:
// 0 is delivered; EX_TEMPFAIL and EX_OSERR defer; the other sysexits codes bounce with
// their status; any other code bounces with 5.3.0; a signal defers. Output starting
// with an enhanced status code ("4.2.2 ..." / "5.1.1 ...") overrides the exit code's.
// output is the command's stdout and stderr (bounded by the caller).
Outcome command_outcome(int wait_status, const std::string& cmd, std::string_view output);

}  // namespace postilion::local
