// imapd/command.cc - command reader and parser.
#include "imapd/command.h"

#include <cctype>

#include "lib/base/strings.h"

namespace postilion::imapd {
namespace {

// A literal announcement ending a line: "{123}" or "{123+}" just before CRLF (or LF).
// Returns the size and whether it is non-synchronizing; nullopt when there is none or
// the number is unusable.
std::optional<std::pair<uint64_t, bool>> literal_at_end(std::string_view line) {
  if (line.ends_with("\r\n")) line.remove_suffix(2);
  else if (line.ends_with("\n")) line.remove_suffix(1);
  if (!line.ends_with("}")) return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view num = line.substr(open + 1, line.size() - open - 2);
  bool plus = !num.empty() && (num.back() == '+' || num.back() == '-');
  if (plus) num.remove_suffix(1);
  if (num.empty() || num.size() > 12) return std::nullopt;
  for (char c : num)
    if (c < '0' || c > '9') return std::nullopt;
  return std::make_pair(*str::parse_uint(num), plus);
}

}  // namespace

void CommandReader::reset() {
  cmd_.clear();
  line_len_ = 0;
  literal_left_ = skip_ = 0;
  skip_line_ = false;
}

std::string CommandReader::tag_of() const {
  size_t sp = cmd_.find_first_of(" \r\n");
  std::string tag = cmd_.substr(0, sp == std::string::npos ? std::min<size_t>(cmd_.size(), 64) : std::min<size_t>(sp, 64));
  for (char c : tag)
    if (c <= ' ' || c >= 127 || c == '{' || c == '(' || c == ')' || c == '%' || c == '*' || c == '"' || c == '\\' ||
        c == '+')
      return "*";
  return tag.empty() ? "*" : tag;
}

bool CommandReader::is_append() const {
  size_t sp = cmd_.find(' ');
  if (sp == std::string::npos) return false;
  return str::istarts_with(std::string_view(cmd_).substr(sp + 1), "APPEND ");
}

CommandReader::Status CommandReader::next(std::string& in, std::string* out) {
  for (;;) {
    if (skip_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, in.size()));
      in.erase(0, n);
      skip_ -= n;
      if (skip_ > 0) return Status::NeedMore;
      // The refused command's remaining line goes too.
      skip_line_ = true;
    }
    if (skip_line_) {
      size_t lf = in.find('\n');
      if (lf == std::string::npos) {
        in.clear();
        return Status::NeedMore;
      }
      in.erase(0, lf + 1);
      skip_line_ = false;
    }
    if (literal_left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, in.size()));
      cmd_.append(in, 0, n);
      in.erase(0, n);
      literal_left_ -= n;
      if (literal_left_ > 0) return Status::NeedMore;
      continue;
    }
    size_t lf = in.find('\n');
    if (lf == std::string::npos) {
      if (line_len_ + in.size() > line_limit_) {
        if (cmd_.empty()) cmd_.assign(in, 0, std::min<size_t>(in.size(), 80));
        *out = tag_of();
        reset();
        in.clear();
        skip_line_ = true;
        return Status::TooLong;
      }
      return Status::NeedMore;
    }
    if (line_len_ + lf + 1 > line_limit_) {
      cmd_ += in.substr(0, std::min<size_t>(lf, 80));
      *out = tag_of();
      reset();
      in.erase(0, lf + 1);
      return Status::TooLong;
    }
    std::string_view line(in.data(), lf + 1);
    cmd_.append(line);
    line_len_ += line.size();
    auto lit = literal_at_end(line);
    in.erase(0, lf + 1);
    if (!lit) {
      out->swap(cmd_);
      reset();
      return Status::Command;
    }
    uint64_t limit = is_append() ? append_limit_ : literal_limit_;
    if (lit->first > limit) {
      *out = tag_of();
      bool nonsync = lit->second;
      reset();
      if (nonsync) skip_ = lit->first;
      return Status::LiteralTooBig;
    }
    literal_left_ = lit->first;
    if (literal_left_ == 0) continue;
    if (!lit->second) return Status::Continuation;
  }
}

bool Value::is_nil() const { return type == Type::Atom && str::iequals(text, "NIL"); }

namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool at_end() const { return pos_ >= s_.size() || s_[pos_] == '\r' || s_[pos_] == '\n'; }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  // One value; false (with error_) on bad syntax.
  bool value(Value* v, size_t depth) {
    if (depth > kMaxNesting) return fail("nesting too deep");
    char c = peek();
    if (c == '(') {
      ++pos_;
      v->type = Value::Type::List;
      while (peek() != ')') {
        if (at_end()) return fail("unbalanced parentheses");
        if (!v->items.empty()) {
          if (peek() != ' ') return fail("missing space in list");
          ++pos_;
        }
        Value item;
        if (!value(&item, depth + 1)) return false;
        v->items.push_back(std::move(item));
      }
      ++pos_;
      return true;
    }
    if (c == '"') {
      ++pos_;
      v->type = Value::Type::String;
      for (;;) {
        if (pos_ >= s_.size() || s_[pos_] == '\r' || s_[pos_] == '\n') return fail("unterminated quoted string");
        char d = s_[pos_++];
        if (d == '"') return true;
        if (d == '\\') {
          if (pos_ >= s_.size() || (s_[pos_] != '\\' && s_[pos_] != '"')) return fail("bad escape in quoted string");
          d = s_[pos_++];
        }
        v->text += d;
      }
    }
    if (c == '{') {
      size_t close = s_.find('}', pos_);
      if (close == std::string_view::npos) return fail("bad literal");
      std::string_view num = s_.substr(pos_ + 1, close - pos_ - 1);
      if (!num.empty() && (num.back() == '+' || num.back() == '-')) num.remove_suffix(1);
      auto n = str::parse_uint(num);
      size_t data = close + 1;
      if (data < s_.size() && s_[data] == '\r') ++data;
      if (!n || data >= s_.size() || s_[data] != '\n') return fail("bad literal");
      ++data;
      if (s_.size() - data < *n) return fail("literal shorter than announced");
      v->type = Value::Type::String;
      v->literal = true;
      v->text.assign(s_.substr(data, *n));
      pos_ = data + *n;
      return true;
    }
    if (c == ')') return fail("unbalanced parentheses");
    return atom(v);
  }

  // An atom, where "[...]" may hold spaces and parentheses (BODY[HEADER.FIELDS (A B)]).
  bool atom(Value* v) {
    size_t start = pos_;
    while (!at_end()) {
      char c = s_[pos_];
      if (c == '[') {
        size_t close = s_.find(']', pos_);
        size_t eol = s_.find_first_of("\r\n", pos_);
        if (close == std::string_view::npos || close > eol) return fail("unbalanced brackets");
        pos_ = close + 1;
        continue;
      }
      if (c == ' ' || c == ')' || c == '(' || c == '"' || c == '{') break;
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        return fail("invalid character in atom");
      ++pos_;
    }
    if (pos_ == start) return fail("missing argument");
    if (peek() == '(' || peek() == '"' || peek() == '{') return fail("missing space");
    v->type = Value::Type::Atom;
    v->text.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool fail(const char* why) {
    if (error_.empty()) error_ = why;
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

bool tag_char(char c) {
  return c > ' ' && c < 127 && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' && c != '"' && c != '\\' &&
         c != '+';
}

}  // namespace

ParseResult parse_command(std::string_view raw) {
  ParseResult r;
  r.tag = "*";
  size_t sp = raw.find(' ');
  std::string_view tag = raw.substr(0, sp == std::string_view::npos ? raw.find_first_of("\r\n") : sp);
  bool tag_ok = !tag.empty() && tag.size() <= 64;
  for (char c : tag) tag_ok = tag_ok && tag_char(c);
  if (!tag_ok) {
    r.error = "missing or invalid tag";
    return r;
  }
  r.tag.assign(tag);
  if (sp == std::string_view::npos) {
    r.error = "missing command";
    return r;
  }
  Parser p(raw.substr(sp + 1));
  Value name;
  if (!p.atom(&name) || name.text.size() > 32) {
    r.error = "missing or invalid command";
    return r;
  }
  Command cmd;
  cmd.tag = r.tag;
  cmd.name = str::upper(name.text);
  while (!p.at_end()) {
    if (p.peek() != ' ') {
      r.error = p.peek() == ')' ? "unbalanced parentheses" : "missing space between arguments";
      return r;
    }
    ++p.pos_;
    Value v;
    if (!p.value(&v, 0)) {
      r.error = p.error_;
      return r;
    }
    cmd.args.push_back(std::move(v));
    if (cmd.args.size() > 100000) {
      r.error = "too many arguments";
      return r;
    }
  }
  std::string_view rest = raw.substr(sp + 1 + p.pos_);
  if (rest != "\r\n" && rest != "\n") {
    r.error = "junk at end of command";
    return r;
  }
  r.cmd = std::move(cmd);
  return r;
}

}  // namespace postilion::imapd
