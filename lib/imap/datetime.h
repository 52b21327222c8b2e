// lib/imap/datetime.h - IMAP dates and date-times (RFC 3501 9: date, date-time) and the
// RFC 5322 Date: header, as seconds since the epoch plus the zone they were written in.
// Parsers return nullopt on bad input and never throw.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace postilion::imap {

struct DateTime {
  int64_t utc = 0;        // seconds since 1970-01-01 00:00:00 UTC
  int zone_minutes = 0;   // offset of the zone written, e.g. -420 for -0700
};

// "17-Jul-1996 02:44:25 -0700" (the day may be " 7" or "7" as clients send it).
std::optional<DateTime> parse_date_time(std::string_view s);
std::string format_date_time(const DateTime& t);  // always "dd-Mon-yyyy hh:mm:ss +zzzz"

// A SEARCH date "1-Feb-1994" as the day number (days since 1970-01-01); the RFC
// compares dates without time or zone.
std::optional<int64_t> parse_search_date(std::string_view s);

// An RFC 5322 Date: value ("Tue, 1 Jul 2003 10:52:37 +0200", obsolete zones and
// two-digit years accepted, comments ignored).
std::optional<DateTime> parse_rfc5322_date(std::string_view s);

// Day number of a moment in the zone it was written in (for SENTBEFORE/SENTON) or in
// a zone offset (for BEFORE/ON/SINCE against the internal date in the server's zone).
int64_t day_number(int64_t utc, int zone_minutes);
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace postilion::imap
