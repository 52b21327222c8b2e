// lib/mail/encoding.cc - base64, quoted-printable, RFC 2047/2231 and charsets.
#include "lib/mail/encoding.h"

#include <iconv.h>

#include <cerrno>

#include "lib/base/strings.h"

namespace postilion::mail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// The iconv name of a charset this converter accepts, or "" (lowercase input).
std::string iconv_name(std::string_view cs) {
  std::string c = str::lower(str::trim(cs));
  if (c.empty() || c == "us-ascii" || c == "ascii" || c == "utf-8" || c == "utf8") return "UTF-8";
  auto numbered = [&](std::string_view prefix, int lo, int hi) -> std::string {
    if (!c.starts_with(prefix)) return "";
    auto n = str::parse_uint(std::string_view(c).substr(prefix.size()));
    if (!n || *n < uint64_t(lo) || *n > uint64_t(hi)) return "";
    return std::to_string(*n);
  };
  for (std::string_view p : {"iso-8859-", "iso8859-", "iso_8859-", "iso8859_"})
    if (auto n = numbered(p, 1, 16); !n.empty() && n != "12") return "ISO-8859-" + n;
  for (std::string_view p : {"windows-", "cp", "windows"})
    if (auto n = numbered(p, 1250, 1258); !n.empty()) return "WINDOWS-" + n;
  if (c == "latin1" || c == "latin-1" || c == "l1") return "ISO-8859-1";
  static const char* const kOthers[] = {"koi8-r", "koi8-u", "gb2312", "gbk", "gb18030", "big5",
                                        "shift_jis", "sjis", "euc-jp", "iso-2022-jp", "euc-kr",
                                        "cp866", "utf-16", "utf-16le", "utf-16be", "utf-7"};
  for (const char* o : kOthers)
    if (c == o) return str::upper(c);
  return "";
}

bool is_utf8_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if (!is_utf8_continuation(s[i + k])) return 0;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

}  // namespace

std::string decode_base64_lenient(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = b64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    // One line at a time, so trailing whitespace can be dropped.
    size_t nl = in.find('\n', i);
    size_t end = nl == std::string_view::npos ? in.size() : nl;
    size_t content_end = end;
    if (content_end > i && in[content_end - 1] == '\r') --content_end;
    size_t trimmed = content_end;
    while (trimmed > i && (in[trimmed - 1] == ' ' || in[trimmed - 1] == '\t')) --trimmed;
    bool soft = false;
    for (size_t k = i; k < trimmed; ++k) {
      char c = in[k];
      if (c != '=') {
        out += c;
        continue;
      }
      if (k + 1 == trimmed) {  // "=" at the end of the line: soft line break
        soft = true;
        break;
      }
      int hi = k + 2 < trimmed ? hex_value(in[k + 1]) : -1;
      int lo = hi >= 0 ? hex_value(in[k + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        k += 2;
      } else {
        out += '=';
      }
    }
    if (nl == std::string_view::npos) break;
    if (!soft) out.append(in.substr(content_end, end + 1 - content_end));
    i = end + 1;
  }
  return out;
}

std::string decode_transfer(std::string_view body, std::string_view encoding) {
  std::string_view e = str::trim(encoding);
  if (str::iequals(e, "base64")) return decode_base64_lenient(body);
  if (str::iequals(e, "quoted-printable")) return decode_quoted_printable(body);
  return std::string(body);
}

bool known_charset(std::string_view charset) { return !iconv_name(charset).empty(); }

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::optional<std::string> to_utf8(std::string_view text, std::string_view charset) {
  std::string name = iconv_name(charset);
  if (name.empty()) return std::nullopt;
  if (name == "UTF-8") return sanitize_utf8(text);
  iconv_t cd = iconv_open("UTF-8", name.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 2);
  char buf[4096];
  char* in = const_cast<char*>(text.data());
  size_t in_left = text.size();
  while (in_left > 0) {
    char* o = buf;
    size_t o_left = sizeof buf;
    size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    out.append(buf, size_t(o - buf));
    if (r != size_t(-1)) continue;
    if (errno == E2BIG) continue;
    // EILSEQ: one bad byte; EINVAL: an incomplete sequence at the end.
    out += kReplacement;
    if (errno == EINVAL) break;
    ++in;
    --in_left;
  }
  char* o = buf;
  size_t o_left = sizeof buf;
  iconv(cd, nullptr, nullptr, &o, &o_left);  // shift back to the initial state
  out.append(buf, size_t(o - buf));
  iconv_close(cd);
  return out;
}

std::string decode_rfc2047(std::string_view v) {
  std::string out;
  std::string pending;          // decoded bytes of adjacent words in one charset
  std::string pending_charset;
  size_t i = 0;
  size_t text_start = 0;  // start of plain text not yet copied
  bool last_was_word = false;

  auto flush = [&] {
    if (pending_charset.empty()) return;
    if (auto u = to_utf8(pending, pending_charset)) out += *u;
    pending.clear();
    pending_charset.clear();
  };
  auto plain = [&](std::string_view text) {
    flush();
    out += sanitize_utf8(text);
  };

  while (i < v.size()) {
    size_t start = v.find("=?", i);
    if (start == std::string_view::npos) break;
    // =?charset?X?text?=
    size_t q1 = v.find('?', start + 2);
    if (q1 == std::string_view::npos || q1 + 3 >= v.size() || v[q1 + 2] != '?') {
      i = start + 2;
      continue;
    }
    size_t end = v.find("?=", q1 + 3);
    if (end == std::string_view::npos) break;
    std::string_view charset = v.substr(start + 2, q1 - start - 2);
    char enc = v[q1 + 1];
    std::string_view text = v.substr(q1 + 3, end - q1 - 3);
    if (size_t star = charset.find('*'); star != std::string_view::npos)
      charset = charset.substr(0, star);  // RFC 2231 language suffix
    bool bad = charset.empty() || text.find_first_of(" \t\r\n") != std::string_view::npos ||
               charset.find_first_of(" \t\r\n") != std::string_view::npos ||
               !known_charset(charset) ||
               !(enc == 'B' || enc == 'b' || enc == 'Q' || enc == 'q');
    if (bad) {
      i = start + 2;
      continue;
    }
    std::string_view between = v.substr(text_start, start - text_start);
    bool only_space = between.find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (!(last_was_word && only_space)) plain(between);
    std::string bytes;
    if (enc == 'B' || enc == 'b') {
      bytes = decode_base64_lenient(text);
    } else {
      for (size_t k = 0; k < text.size(); ++k) {
        if (text[k] == '_') {
          bytes += ' ';
        } else if (text[k] == '=' && k + 2 < text.size() && hex_value(text[k + 1]) >= 0 &&
                   hex_value(text[k + 2]) >= 0) {
          bytes += static_cast<char>(hex_value(text[k + 1]) * 16 + hex_value(text[k + 2]));
          k += 2;
        } else {
          bytes += text[k];
        }
      }
    }
    std::string cs = str::lower(charset);
    if (cs != pending_charset) flush();
    pending_charset = cs;
    pending += bytes;
    last_was_word = true;
    i = end + 2;
    text_start = i;
  }
  plain(v.substr(text_start));
  return out;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
        hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string percent_encode(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    // attribute-char (RFC 2231): not SPACE, CTL, tspecials, '*', '\'' or '%'.
    bool keep = c > 32 && c < 127 && std::string_view("()<>@,;:\\\"/[]?=*'%").find(char(c)) ==
                                         std::string_view::npos;
    if (keep) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace postilion::mail
