// smtp/reply_parser.cc - incremental SMTP reply parsing for the relay client.
#include "smtp/reply_parser.h"

#include "lib/base/strings.h"

namespace postilion::smtp_client {

bool valid_enhanced(std::string_view s, char cls) {
  auto parts = str::split_exact(s, '.');
  if (parts.size() != 3 || parts[0].size() != 1 || parts[0][0] != cls) return false;
  for (size_t i = 1; i < 3; ++i) {
    if (parts[i].empty() || parts[i].size() > 3) return false;
    for (char c : parts[i])
      if (c < '0' || c > '9') return false;
  }
  return true;
}

ReplyParser::Status ReplyParser::next(smtp::Reply* out, std::string* why) {
  if (failed_) {
    *why = why_;
    return Status::Error;
  }
  auto fail = [&](std::string w) {
    failed_ = true;
    why_ = std::move(w);
    *why = why_;
    buf_.clear();
    return Status::Error;
  };
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl == std::string::npos) {
      if (buf_.size() > kMaxReplyLine) return fail("reply line too long");
      return Status::NeedMore;
    }
    if (nl > kMaxReplyLine) return fail("reply line too long");
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // "250", "250 text", "250-text"
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
        line[2] < '0' || line[2] > '9')
      return fail("malformed reply line: " + str::printable(line, 100));
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-')
      return fail("malformed reply line: " + str::printable(line, 100));
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (lines_.empty())
      code_ = code;
    else if (code != code_)
      return fail("reply code changed within a multi-line reply: " + str::printable(line, 100));
    bool more = line.size() > 3 && line[3] == '-';
    lines_.push_back(line.size() > 4 ? line.substr(4) : std::string());
    if (lines_.size() > kMaxReplyLines) return fail("too many reply lines");
    if (more) continue;

    smtp::Reply r;
    r.code = code_;
    char cls = static_cast<char>('0' + code_ / 100);
    // The enhanced code of the first line applies to the reply; lines that repeat it
    // have it removed too (RFC 2034 says every line carries it).
    std::string first = lines_.front();
    size_t sp = first.find(' ');
    std::string cand = first.substr(0, sp);
    if (valid_enhanced(cand, cls)) r.status = cand;
    for (auto& l : lines_) {
      if (!r.status.empty() && l.compare(0, r.status.size(), r.status) == 0 &&
          (l.size() == r.status.size() || l[r.status.size()] == ' '))
        l.erase(0, std::min(l.size(), r.status.size() + 1));
      r.lines.push_back(std::move(l));
    }
    lines_.clear();
    *out = std::move(r);
    return Status::Ready;
  }
}

Parsed<smtp::Reply> parse_reply(std::string_view text) {
  ReplyParser p;
  p.feed(text);
  smtp::Reply r;
  std::string why;
  auto st = p.next(&r, &why);
  if (st == ReplyParser::Status::NeedMore) return Parsed<smtp::Reply>::bad("incomplete reply");
  if (st == ReplyParser::Status::Error) return Parsed<smtp::Reply>::bad(why);
  if (p.has_pending()) return Parsed<smtp::Reply>::bad("data after the reply");
  return r;
}

}  // namespace postilion::smtp_client
