// lib/config/restrictions.h - the words of smtpd's restriction lists
// (smtpd_client_restrictions, smtpd_helo_restrictions, smtpd_sender_restrictions):
// which words exist, which take an argument, and DNSBL reply filters
// ("bl.example=127.0.0.[2..11]"). Config loading parses every such list with this, so a
// word smtpd does not know stops `postilionctl check` and smtpd's start with file:line
// instead of being skipped at run time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::config {

enum class Restriction {
  Permit,
  Reject,
  PermitMynetworks,
  PermitSaslAuthenticated,
};

// The name of a restriction as written in main.conf ("permit_mynetworks").
const char* restriction_name(Restriction r);

// One step of a restriction list, with its argument when it takes one.
struct RestrictionStep {
  Restriction what = Restriction::Permit;
};

// Parses one restriction list value (words separated by commas and/or white space).
// Returns nullopt with *why set ("unknown restriction \"x\"", "reject_rbl_client needs a
// DNS list domain") when the list holds anything smtpd would not run.
std::optional<std::vector<RestrictionStep>> parse_restriction_list(std::string_view value, std::string* why);

}  // namespace postilion::config
