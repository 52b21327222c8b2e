// lib/imap/datetime.cc - date and date-time parsing and formatting.
#include "lib/imap/datetime.h"

#include <cstdio>

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<unsigned> month_of(std::string_view s) {
  for (unsigned i = 0; i < 12; ++i)
    if (str::iequals(s, kMonths[i])) return i + 1;
  return std::nullopt;
}

std::optional<int> digits(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

// "d-Mon-yyyy" -> y, m, d
bool parse_date_part(std::string_view s, int* y, unsigned* m, int* d) {
  size_t a = s.find('-');
  size_t b = a == std::string_view::npos ? a : s.find('-', a + 1);
  if (b == std::string_view::npos) return false;
  auto day = digits(str::trim(s.substr(0, a)), 1, 2);
  auto mon = month_of(s.substr(a + 1, b - a - 1));
  auto year = digits(s.substr(b + 1), 4, 4);
  if (!day || !mon || !year || *day < 1 || unsigned(*day) > days_in_month(*year, *mon)) return false;
  *y = *year;
  *m = *mon;
  *d = *day;
  return true;
}

std::optional<int> parse_zone(std::string_view z) {
  if (z.size() != 5 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  auto hh = digits(z.substr(1, 2), 2, 2);
  auto mm = digits(z.substr(3, 2), 2, 2);
  if (!hh || !mm || *mm > 59) return std::nullopt;
  int v = *hh * 60 + *mm;
  return z[0] == '-' ? -v : v;
}

bool parse_time(std::string_view s, int* h, int* mi, int* se, bool seconds_optional) {
  auto parts = str::split_exact(s, ':');
  if (parts.size() != 3 && !(seconds_optional && parts.size() == 2)) return false;
  auto hh = digits(parts[0], 1, 2), mm = digits(parts[1], 2, 2);
  std::optional<int> ss = parts.size() == 3 ? digits(parts[2], 2, 2) : std::optional<int>(0);
  if (!hh || !mm || !ss || *hh > 23 || *mm > 59 || *ss > 60) return false;
  *h = *hh;
  *mi = *mm;
  *se = *ss;
  return true;
}

}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // H. Hinnant's algorithm.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t day_number(int64_t utc, int zone_minutes) {
  int64_t local = utc + int64_t(zone_minutes) * 60;
  return local >= 0 ? local / 86400 : (local - 86399) / 86400;
}

std::optional<DateTime> parse_date_time(std::string_view s) {
  // dd-Mon-yyyy SP time SP zone; a day of one digit may be space padded.
  if (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  auto parts = str::split(s, " ");
  if (parts.size() != 3) return std::nullopt;
  int y, d, h, mi, se;
  unsigned m;
  if (!parse_date_part(parts[0], &y, &m, &d) || !parse_time(parts[1], &h, &mi, &se, false))
    return std::nullopt;
  auto zone = parse_zone(parts[2]);
  if (!zone) return std::nullopt;
  DateTime t;
  t.zone_minutes = *zone;
  t.utc = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + se - int64_t(*zone) * 60;
  return t;
}

std::string format_date_time(const DateTime& t) {
  int64_t local = t.utc + int64_t(t.zone_minutes) * 60;
  int64_t days = day_number(t.utc, t.zone_minutes);
  int64_t secs = local - days * 86400;
  // civil_from_days
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  int zone = t.zone_minutes;
  char sign = zone < 0 ? '-' : '+';
  if (zone < 0) zone = -zone;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02u-%s-%04lld %02d:%02d:%02d %c%02d%02d", d, kMonths[m - 1],
                static_cast<long long>(y), int(secs / 3600), int(secs / 60 % 60), int(secs % 60),
                sign, zone / 60, zone % 60);
  return buf;
}

std::optional<int64_t> parse_search_date(std::string_view s) {
  int y, d;
  unsigned m;
  if (!parse_date_part(s, &y, &m, &d)) return std::nullopt;
  return days_from_civil(y, m, d);
}

std::optional<DateTime> parse_rfc5322_date(std::string_view s) {
  // Drop comments, then split into words.
  std::string clean;
  int depth = 0;
  for (char c : s) {
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (depth == 0) clean += (c == ',' || c == '\t' || c == '\r' || c == '\n') ? ' ' : c;
  }
  auto w = str::split(clean, " ");
  size_t i = 0;
  if (i < w.size() && w[i].size() >= 3 && !(w[i][0] >= '0' && w[i][0] <= '9')) ++i;  // day name
  if (w.size() < i + 4) return std::nullopt;
  auto day = digits(w[i], 1, 2);
  auto mon = month_of(w[i + 1].substr(0, 3));
  auto year = digits(w[i + 2], 2, 4);
  if (!day || !mon || !year) return std::nullopt;
  int y = *year;
  if (w[i + 2].size() == 2) y += y < 50 ? 2000 : 1900;
  else if (w[i + 2].size() == 3) y += 1900;
  if (*day < 1 || unsigned(*day) > days_in_month(y, *mon)) return std::nullopt;
  int h, mi, se;
  if (!parse_time(w[i + 3], &h, &mi, &se, true)) return std::nullopt;
  int zone = 0;
  if (w.size() > i + 4) {
    const std::string& z = w[i + 4];
    if (auto zz = parse_zone(z)) {
      zone = *zz;
    } else {
      static const struct { const char* name; int minutes; } kZones[] = {
          {"UT", 0}, {"GMT", 0}, {"Z", 0}, {"EST", -300}, {"EDT", -240}, {"CST", -360},
          {"CDT", -300}, {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420}};
      for (const auto& k : kZones)
        if (str::iequals(z, k.name)) zone = k.minutes;
    }
  }
  DateTime t;
  t.zone_minutes = zone;
  t.utc = days_from_civil(y, *mon, *day) * 86400 + h * 3600 + mi * 60 + se - int64_t(zone) * 60;
  return t;
}

}  // namespace postilion::imap
