// lib/imap/command.cc - the incremental IMAP command reader.
#include "lib/imap/command.h"

#include "lib/base/strings.h"

namespace postilion::imap {
namespace {

constexpr size_t kMaxTag = 64;
constexpr size_t kMaxLiteralDigits = 10;

bool ctl(unsigned char c) { return c < 32 || c == 127; }
// Characters allowed in an atom (RFC 3501 ATOM-CHAR), widened as servers do: list
// wildcards (% *), flag backslashes and ']' (resp-text-code atoms) are accepted here
// and judged by the typed parsers.
bool atom_char(unsigned char c) {
  return c > 32 && c < 127 && c != '(' && c != ')' && c != '{' && c != '"';
}
bool tag_char(unsigned char c) { return atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\'; }

}  // namespace

bool Arg::is_nil() const { return kind == Kind::Atom && str::iequals(text, "NIL"); }

void CommandReader::reset() {
  st_ = St::Tag;
  cmd_ = Command{};
  tok_.clear();
  lists_.clear();
  line_len_ = 0;
  ntokens_ = 0;
  held_ = 0;
  in_bracket_ = false;
  bracket_quote_ = false;
}

CommandReader::Status CommandReader::fail(std::string text, bool fatal) {
  err_.tag = cmd_.tag.empty() ? "*" : cmd_.tag;
  err_.reply = err_.tag + " BAD " + text + "\r\n";
  err_.fatal = fatal;
  reset();
  // An error found at the line end has nothing left to skip.
  st_ = last_ == '\n' ? St::Tag : St::Skip;
  skip_tail_.clear();
  return Status::Error;
}

size_t CommandReader::literal_limit() const {
  return cmd_.name == "APPEND" ? limits_.max_append_literal : limits_.max_literal;
}

bool CommandReader::push(Arg a) {
  if (++ntokens_ > limits_.max_args) return false;
  held_ += a.text.size() + sizeof(Arg);
  lists_.back().list.push_back(std::move(a));
  return true;
}

bool CommandReader::end_atom() {
  Arg a;
  a.kind = Arg::Kind::Atom;
  a.text = std::move(tok_);
  tok_.clear();
  in_bracket_ = false;
  return push(std::move(a));
}

CommandReader::Status CommandReader::end_of_line() {
  if (lists_.size() > 1) return fail("Missing ')'");
  if (cmd_.tag.empty()) {  // an empty line: ignored
    reset();
    return Status::NeedMore;
  }
  if (!lists_.empty()) cmd_.args = std::move(lists_[0].list);
  Command done = std::move(cmd_);
  reset();
  cmd_ = std::move(done);
  return Status::Command;
}

CommandReader::Status CommandReader::feed(std::string_view in, size_t* used) {
  size_t i = 0;
  auto ret = [&](Status s) {
    *used = i;
    return s;
  };
  if (raw_line_) {
    size_t nl = in.find('\n');
    size_t take = nl == std::string_view::npos ? in.size() : nl;
    if (line_buf_.size() + take > limits_.max_line) {
      raw_line_ = false;
      line_buf_.clear();
      i = 0;
      last_ = 0;
      Status s = fail("Line too long");
      // The rest of the line is skipped; no tag, no literal framing to keep.
      return ret(s);
    }
    line_buf_.append(in.substr(0, take));
    if (nl == std::string_view::npos) {
      i = in.size();
      return ret(Status::NeedMore);
    }
    i = nl + 1;
    if (!line_buf_.empty() && line_buf_.back() == '\r') line_buf_.pop_back();
    raw_line_ = false;
    return ret(Status::Line);
  }

  while (i < in.size()) {
    // Literal data is copied in bulk.
    if (st_ == St::LiteralData || st_ == St::SkipLiteral) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(literal_size_, in.size() - i));
      if (st_ == St::LiteralData) tok_.append(in.substr(i, take));
      i += take;
      literal_size_ -= take;
      if (literal_size_ > 0) return ret(Status::NeedMore);
      if (st_ == St::SkipLiteral) {
        st_ = St::Skip;
        continue;
      }
      Arg a;
      a.kind = Arg::Kind::Literal;
      a.binary = literal_binary_;
      a.text = std::move(tok_);
      tok_.clear();
      st_ = St::Args;
      line_len_ = 0;
      if (!push(std::move(a))) return ret(fail("Too many arguments"));
      continue;
    }

    unsigned char c = static_cast<unsigned char>(in[i++]);
    last_ = c;
    if (st_ != St::Skip && ++line_len_ > limits_.max_line) return ret(fail("Line too long"));
    if (st_ != St::Skip && held_ + line_len_ > limits_.max_command)
      return ret(fail("Command too large", true));

    switch (st_) {
      case St::Skip: {
        // Discard the rest of a refused line, and the data of a non-synchronizing literal
        // announced at its end (the client sends it without waiting).
        if (c != '\n') {
          skip_tail_ += static_cast<char>(c);
          if (skip_tail_.size() > 32) skip_tail_.erase(0, skip_tail_.size() - 32);
          break;
        }
        std::string_view t = skip_tail_;
        if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
        skip_tail_.clear();
        size_t open = t.rfind('{');
        if (t.ends_with("+}") && open != std::string_view::npos) {
          auto n = str::parse_uint(t.substr(open + 1, t.size() - open - 3));
          if (n && *n > 0) {
            literal_size_ = *n;
            st_ = St::SkipLiteral;
            break;
          }
        }
        st_ = St::Tag;
        line_len_ = 0;
        break;
      }

      case St::Tag:
        if (c == '\r' && tok_.empty()) break;
        if (c == '\n' && tok_.empty()) {
          line_len_ = 0;
          break;
        }
        if (c == ' ') {
          if (tok_.empty()) return ret(fail("Missing tag"));
          cmd_.tag = std::move(tok_);
          tok_.clear();
          st_ = St::Name;
          break;
        }
        if (c == '\r' || c == '\n') {
          cmd_.tag = std::move(tok_);
          tok_.clear();
          return ret(fail("Missing command"));
        }
        if (!tag_char(c) || tok_.size() >= kMaxTag) {
          tok_.clear();
          return ret(fail("Invalid tag"));
        }
        tok_ += static_cast<char>(c);
        break;

      case St::Name:
        if (c == ' ' || c == '\r' || c == '\n') {
          if (tok_.empty()) return ret(fail("Missing command name"));
          std::string name = str::upper(tok_);
          tok_.clear();
          if (name == "UID" && !cmd_.uid && cmd_.name.empty()) {
            cmd_.uid = true;
            if (c != ' ') return ret(fail("Missing command after UID"));
            break;
          }
          cmd_.name = std::move(name);
          lists_.emplace_back();
          lists_.back().kind = Arg::Kind::List;
          if (c == ' ') {
            st_ = St::Args;
            break;
          }
          if (c == '\r') {
            st_ = St::LineLf;
            break;
          }
          return ret(end_of_line());
        }
        if (!atom_char(c) || tok_.size() >= 64) return ret(fail("Invalid command name"));
        tok_ += static_cast<char>(c);
        break;

      case St::Args:
        if (c == ' ') break;
        if (c == '\r') {
          st_ = St::LineLf;
          break;
        }
        if (c == '\n') {
          Status s = end_of_line();
          return ret(s);
        }
        if (c == '(') {
          if (lists_.size() > limits_.max_depth) return ret(fail("Too deep nesting"));
          if (++ntokens_ > limits_.max_args) return ret(fail("Too many arguments"));
          lists_.emplace_back();
          lists_.back().kind = Arg::Kind::List;
          break;
        }
        if (c == ')') {
          if (lists_.size() <= 1) return ret(fail("Unexpected ')'"));
          Arg done = std::move(lists_.back());
          lists_.pop_back();
          lists_.back().list.push_back(std::move(done));
          break;
        }
        if (c == '"') {
          st_ = St::Quoted;
          tok_.clear();
          break;
        }
        if (c == '{') {
          literal_binary_ = false;
          st_ = St::LiteralSize;
          literal_size_ = 0;
          literal_digits_ = 0;
          literal_plus_ = false;
          break;
        }
        if (c == '~') {
          st_ = St::Tilde;
          break;
        }
        if (c >= 0x80) return ret(fail("8-bit characters in an atom"));
        if (!atom_char(c)) return ret(fail("Invalid characters in an atom"));
        tok_.assign(1, static_cast<char>(c));
        in_bracket_ = c == '[';
        st_ = St::Atom;
        break;

      case St::Tilde:
        if (c == '{') {
          literal_binary_ = true;
          st_ = St::LiteralSize;
          literal_size_ = 0;
          literal_digits_ = 0;
          literal_plus_ = false;
          break;
        }
        // A plain atom starting with '~'.
        tok_.assign(1, '~');
        st_ = St::Atom;
        --i;
        --line_len_;
        break;

      case St::Atom:
        if (in_bracket_) {
          // BODY[HEADER.FIELDS (A "B")]: spaces, parentheses and quotes up to ']'.
          if (c == '\r' || c == '\n') return ret(fail("Missing ']'"));
          if (c >= 0x80 || (ctl(c) && c != '\t')) return ret(fail("Invalid characters in an atom"));
          if (c == '"') bracket_quote_ = !bracket_quote_;
          if (c == ']' && !bracket_quote_) in_bracket_ = false;
          tok_ += static_cast<char>(c);
          break;
        }
        if (c == ' ' || c == '\r' || c == '\n' || c == ')') {
          if (!end_atom()) return ret(fail("Too many arguments"));
          st_ = St::Args;
          --i;  // the separator is read again in Args
          --line_len_;
          break;
        }
        if (c >= 0x80) return ret(fail("8-bit characters in an atom"));
        if (!atom_char(c)) return ret(fail("Invalid characters in an atom"));
        if (c == '[') in_bracket_ = true;
        tok_ += static_cast<char>(c);
        break;

      case St::Quoted:
        if (c == '"') {
          Arg a;
          a.kind = Arg::Kind::Quoted;
          a.text = std::move(tok_);
          tok_.clear();
          st_ = St::Args;
          if (!push(std::move(a))) return ret(fail("Too many arguments"));
          break;
        }
        if (c == '\\') {
          st_ = St::QuotedEscape;
          break;
        }
        if (c == '\r' || c == '\n' || c == 0) return ret(fail("Unterminated quoted string"));
        tok_ += static_cast<char>(c);
        break;

      case St::QuotedEscape:
        if (c != '"' && c != '\\') return ret(fail("Invalid escape in a quoted string"));
        tok_ += static_cast<char>(c);
        st_ = St::Quoted;
        break;

      case St::LiteralSize:
        if (c >= '0' && c <= '9') {
          if (literal_plus_ || ++literal_digits_ > kMaxLiteralDigits) return ret(fail("Invalid literal size"));
          literal_size_ = literal_size_ * 10 + (c - '0');
          break;
        }
        if (c == '+' && literal_digits_ > 0 && !literal_plus_) {
          literal_plus_ = true;
          break;
        }
        if (c == '}' && literal_digits_ > 0) {
          literal_sync_ = !literal_plus_;
          st_ = St::LiteralCr;
          break;
        }
        return ret(fail("Invalid literal size"));

      case St::LiteralCr:
        if (c == '\r') {
          st_ = St::LiteralLf;
          break;
        }
        [[fallthrough]];
      case St::LiteralLf: {
        if (c != '\n') return ret(fail("Missing line end after a literal size"));
        bool too_big = literal_size_ > literal_limit() ||
                       held_ + literal_size_ > limits_.max_command;
        if (!literal_sync_ && literal_size_ > limits_.max_nonsync_literal) too_big = true;
        if (too_big) {
          if (!literal_sync_) return ret(fail("Literal too large", true));
          // The client waits for "+" that never comes: the command ends here.
          Status s = fail(cmd_.name == "APPEND" ? "[TOOBIG] Literal too large" : "Literal too large");
          st_ = St::Tag;
          line_len_ = 0;
          return ret(s);
        }
        if (++ntokens_ > limits_.max_args) return ret(fail("Too many arguments"));
        tok_.clear();
        tok_.reserve(static_cast<size_t>(std::min<uint64_t>(literal_size_, 1 << 20)));
        st_ = St::LiteralData;
        held_ += line_len_;
        line_len_ = 0;
        if (literal_sync_) return ret(Status::Continue);
        break;
      }

      case St::LineLf:
        if (c != '\n') return ret(fail("Bare CR in a command"));
        return ret(end_of_line());

      case St::LiteralData:
      case St::SkipLiteral:
        break;  // handled above
    }
  }
  return ret(Status::NeedMore);
}

}  // namespace postilion::imap
