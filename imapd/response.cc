// imapd/response.cc - response building.
#include "imapd/response.h"

#include <cstdio>
#include <cstring>

#include "lib/base/strings.h"

namespace postilion::imapd {
namespace {
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_of(std::string_view m) {
  for (int i = 0; i < 12; ++i)
    if (str::iequals(m, kMonths[i])) return i;
  return -1;
}
}  // namespace

std::string tagged(std::string_view tag, std::string_view kind, std::string_view text) {
  std::string out;
  out.reserve(tag.size() + kind.size() + text.size() + 4);
  out.append(tag).append(" ").append(kind).append(" ");
  for (char c : text)
    if (c != '\r' && c != '\n') out += c;
  out += "\r\n";
  return out;
}

std::string literal(std::string_view s) {
  return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s);
}

std::string astring(std::string_view s) {
  if (s.size() > 1000) return literal(s);
  // An atom where one will do (INBOX, Lists/postfix), as other servers answer.
  bool atom = !s.empty() && !str::iequals(s, "NIL");
  for (char c : s)
    atom = atom && c > ' ' && c < 127 && std::strchr("(){%*\"\\]", c) == nullptr;
  if (atom) return std::string(s);
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0' || static_cast<unsigned char>(c) >= 0x80) return literal(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string nstring(std::string_view s) { return s.empty() ? "NIL" : astring(s); }

std::string date_time(time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

time_t parse_date(std::string_view s) {
  auto dash1 = s.find('-');
  if (dash1 == std::string_view::npos) return -1;
  auto dash2 = s.find('-', dash1 + 1);
  if (dash2 == std::string_view::npos) return -1;
  auto day = str::parse_uint(str::trim(s.substr(0, dash1)));
  int mon = month_of(s.substr(dash1 + 1, dash2 - dash1 - 1));
  auto year = str::parse_uint(s.substr(dash2 + 1));
  if (!day || *day < 1 || *day > 31 || mon < 0 || !year || *year < 1900 || *year > 9999) return -1;
  struct tm tm{};
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_mon = mon;
  tm.tm_year = static_cast<int>(*year) - 1900;
  return timegm(&tm);
}

time_t parse_date_time(std::string_view s) {
  // "dd-Mon-yyyy hh:mm:ss +zzzz"
  if (s.size() != 26 || s[11] != ' ' || s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
      (s[21] != '+' && s[21] != '-'))
    return -1;
  time_t day = parse_date(s.substr(0, 11));
  auto h = str::parse_uint(s.substr(12, 2)), m = str::parse_uint(s.substr(15, 2)),
       sec = str::parse_uint(s.substr(18, 2)), zh = str::parse_uint(s.substr(22, 2)),
       zm = str::parse_uint(s.substr(24, 2));
  if (day < 0 || !h || !m || !sec || !zh || !zm || *h > 23 || *m > 59 || *sec > 60 || *zm > 59) return -1;
  time_t zone = static_cast<time_t>(*zh * 3600 + *zm * 60);
  time_t t = day + static_cast<time_t>(*h * 3600 + *m * 60 + *sec);
  return s[21] == '+' ? t - zone : t + zone;
}

}  // namespace postilion::imapd
