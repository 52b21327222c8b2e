// lib/milter/protocol.cc - milter packet encoder and decoder.
#include "lib/milter/protocol.h"

#include <cstdio>
#include <cstring>

namespace postilion::milter {
namespace {

void put_u32(std::string& out, uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

uint32_t get_u32(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// A NUL inside a string would end it early on the filter's side; it is cut there.
void put_str(std::string& out, std::string_view s) {
  size_t nul = s.find('\0');
  out.append(s.substr(0, nul));
  out += '\0';
}

// Reads one NUL-terminated string from data at *pos. False if no NUL follows.
bool take_str(std::string_view data, size_t* pos, std::string* out) {
  if (*pos > data.size()) return false;
  size_t nul = data.find('\0', *pos);
  if (nul == std::string_view::npos) return false;
  *out = std::string(data.substr(*pos, nul - *pos));
  *pos = nul + 1;
  return true;
}

using Bad = Parsed<Reply>;

std::string hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

bool digits3(std::string_view s) {
  return s.size() >= 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
         s[2] <= '9';
}

// "5.7.1" style: class digit, dot, 1-3 digits, dot, 1-3 digits.
size_t enhanced_len(std::string_view s) {
  size_t i = 0;
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  i = 2;
  for (int part = 0; part < 2; ++part) {
    size_t start = i;
    while (i < s.size() && i - start < 3 && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return 0;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return 0;
      ++i;
    }
  }
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') return 0;
  return i;
}

}  // namespace

Offer offer_for_version(uint32_t version) {
  Offer o;
  o.version = version;
  switch (version) {
    case 2:
      o.actions = kActAddHdrs | kActChgBody | kActAddRcpt | kActDelRcpt | kActChgHdrs | kActQuarantine;
      o.protocol = kNoConnect | kNoHelo | kNoMail | kNoRcpt | kNoBody | kNoHdrs | kNoEoh;
      break;
    case 3:
      o.actions = kActAddHdrs | kActChgBody | kActAddRcpt | kActDelRcpt | kActChgHdrs | kActQuarantine;
      o.protocol = kNoConnect | kNoHelo | kNoMail | kNoRcpt | kNoBody | kNoHdrs | kNoEoh | kNoUnknown;
      break;
    case 4:
      o.actions = kActAddHdrs | kActChgBody | kActAddRcpt | kActDelRcpt | kActChgHdrs | kActQuarantine;
      o.protocol = kNoConnect | kNoHelo | kNoMail | kNoRcpt | kNoBody | kNoHdrs | kNoEoh | kNrHdr | kNoUnknown |
                   kNoData;
      break;
    default:
      o.version = 6;
      o.actions = kActAddHdrs | kActChgBody | kActAddRcpt | kActDelRcpt | kActChgHdrs | kActQuarantine |
                  kActChgFrom | kActAddRcptPar | kActSetSymList;
      // Not offered: SMFIP_RCPT_REJ (rejected recipients are not shown to filters) and
      // the larger body chunk sizes.
      o.protocol = kNoConnect | kNoHelo | kNoMail | kNoRcpt | kNoBody | kNoHdrs | kNoEoh | kNrHdr | kNoUnknown |
                   kNoData | kSkip | kNrConn | kNrHelo | kNrMail | kNrRcpt | kNrData | kNrUnkn | kNrEoh |
                   kNrBody | kHdrLeadSpc;
      break;
  }
  return o;
}

std::string encode(Cmd cmd, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  put_u32(out, static_cast<uint32_t>(data.size() + 1));
  out += static_cast<char>(cmd);
  out.append(data);
  return out;
}

std::string optneg(const Offer& o) {
  std::string d;
  put_u32(d, o.version);
  put_u32(d, o.actions);
  put_u32(d, o.protocol);
  return encode(Cmd::OptNeg, d);
}

std::string connect(std::string_view hostname, char family, uint16_t port, std::string_view address) {
  std::string d;
  put_str(d, hostname);
  d += family;
  if (family != 'U') {
    d += static_cast<char>((port >> 8) & 0xff);
    d += static_cast<char>(port & 0xff);
    put_str(d, address);
  }
  return encode(Cmd::Connect, d);
}

std::string helo(std::string_view name) {
  std::string d;
  put_str(d, name);
  return encode(Cmd::Helo, d);
}

std::string mail(const std::vector<std::string>& args) {
  std::string d;
  for (const auto& a : args) put_str(d, a);
  return encode(Cmd::Mail, d);
}

std::string rcpt(const std::vector<std::string>& args) {
  std::string d;
  for (const auto& a : args) put_str(d, a);
  return encode(Cmd::Rcpt, d);
}

std::string header(std::string_view name, std::string_view value) {
  std::string d;
  put_str(d, name);
  put_str(d, value);
  return encode(Cmd::Header, d);
}

std::string body(std::string_view chunk) { return encode(Cmd::Body, chunk); }

std::string macros(Cmd cmd, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string d(1, static_cast<char>(cmd));
  for (const auto& [n, v] : values) {
    put_str(d, n);
    put_str(d, v);
  }
  return encode(Cmd::Macro, d);
}

Framer::Status Framer::feed(std::string_view in, size_t* used, Packet* out) {
  *used = 0;
  if (bad_) return Status::Bad;
  // The 4-byte length first, then exactly that many bytes: never more is taken, so
  // what follows stays with the caller.
  if (buf_.size() < 4) {
    size_t n = std::min(in.size(), 4 - buf_.size());
    buf_.append(in.substr(0, n));
    *used += n;
    in.remove_prefix(n);
    if (buf_.size() < 4) return Status::NeedMore;
  }
  uint32_t len = get_u32(buf_);
  if (len == 0 || len > max_) {
    bad_ = true;
    error_ = len == 0 ? "packet length 0" : "packet length " + std::to_string(len) + " over the limit";
    return Status::Bad;
  }
  size_t want = 4 + static_cast<size_t>(len) - buf_.size();
  size_t n = std::min(in.size(), want);
  buf_.append(in.substr(0, n));
  *used += n;
  if (buf_.size() < 4 + static_cast<size_t>(len)) return Status::NeedMore;
  out->code = buf_[4];
  out->data = buf_.substr(5);
  buf_.clear();
  return Status::Packet;
}

Parsed<Negotiated> decode_optneg(const Packet& p, const Offer& offered) {
  using Bad = Parsed<Negotiated>;
  if (p.code != static_cast<char>(Rep::OptNeg)) return Bad::bad(std::string("negotiation: unexpected reply ") + rep_name(p.code));
  if (p.data.size() < 12) return Bad::bad("negotiation: reply too short (" + std::to_string(p.data.size()) + " bytes)");
  Negotiated n;
  n.version = get_u32(p.data);
  n.actions = get_u32(std::string_view(p.data).substr(4));
  n.protocol = get_u32(std::string_view(p.data).substr(8));
  if (n.version < 2 || n.version > 6)
    return Bad::bad("negotiation: unsupported protocol version " + std::to_string(n.version));
  if (n.actions & ~offered.actions)
    return Bad::bad("negotiation: requested actions " + hex(n.actions) + " beyond those offered " +
                    hex(offered.actions));
  // The size bits ask for larger chunks from the filter, which this side refuses.
  if (n.protocol & ~offered.protocol)
    return Bad::bad("negotiation: requested protocol steps " + hex(n.protocol) + " beyond those offered " +
                    hex(offered.protocol));
  std::string_view rest = std::string_view(p.data).substr(12);
  int lists = 0;
  while (!rest.empty()) {
    if (++lists > static_cast<int>(kStages)) return Bad::bad("negotiation: too many symbol lists");
    if (rest.size() < 5) return Bad::bad("negotiation: truncated symbol list");
    uint32_t stage = get_u32(rest);
    rest.remove_prefix(4);
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) return Bad::bad("negotiation: symbol list without NUL");
    if (stage >= kStages) return Bad::bad("negotiation: symbol list for unknown stage " + std::to_string(stage));
    if (n.has_symlist[stage]) return Bad::bad("negotiation: two symbol lists for stage " + std::to_string(stage));
    std::string_view list = rest.substr(0, nul);
    rest.remove_prefix(nul + 1);
    n.has_symlist[stage] = true;
    size_t i = 0;
    while (i < list.size()) {
      while (i < list.size() && (list[i] == ' ' || list[i] == ',' || list[i] == '\t')) ++i;
      size_t start = i;
      while (i < list.size() && list[i] != ' ' && list[i] != ',' && list[i] != '\t') ++i;
      if (i > start) {
        std::string_view name = list.substr(start, i - start);
        for (char c : name)
          if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
            return Bad::bad("negotiation: bad macro name in symbol list");
        if (n.symlist[stage].size() >= 64) return Bad::bad("negotiation: symbol list too long");
        n.symlist[stage].emplace_back(name);
      }
    }
  }
  return n;
}

Parsed<int> check_reply_code(std::string_view text) {
  using Bad = Parsed<int>;
  if (text.size() > 64 * 1024) return Bad::bad("reply text too long");
  if (!digits3(text) || (text[0] != '4' && text[0] != '5')) return Bad::bad("reply code is not 4xx or 5xx");
  std::string_view code = text.substr(0, 3);
  size_t pos = 0;
  int lines = 0;
  while (pos < text.size()) {
    if (++lines > 100) return Bad::bad("reply has too many lines");
    size_t eol = text.find("\r\n", pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    bool last = eol == std::string_view::npos || eol + 2 == text.size();
    if (line.substr(0, 3) != code) return Bad::bad("reply lines with different codes");
    if (line.size() > 3) {
      char sep = line[3];
      if (sep != ' ' && sep != '-') return Bad::bad("reply code not followed by space or dash");
      if (sep == '-' && last) return Bad::bad("last reply line continued");
      if (sep == ' ' && !last) return Bad::bad("reply line ended early");
      std::string_view rest = line.substr(4);
      if (size_t e = enhanced_len(rest); e > 0 && rest[0] != code[0])
        return Bad::bad("enhanced status code of another class");
    } else if (!last) {
      return Bad::bad("reply line ended early");
    }
    for (char c : line)
      if (c == '\r' || c == '\n' || c == '\0') return Bad::bad("control character in reply");
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

Parsed<Reply> decode_reply(const Packet& p) {
  Reply r;
  std::string_view d = p.data;
  size_t pos = 0;
  auto no_data = [&](Rep t) -> Parsed<Reply> {
    // libmilter sends none; a filter that sends some is not speaking the protocol.
    if (!d.empty()) return Bad::bad(std::string(rep_name(p.code)) + " with unexpected data");
    r.type = t;
    return r;
  };
  auto done = [&]() -> Parsed<Reply> {
    if (pos != d.size()) return Bad::bad(std::string(rep_name(p.code)) + ": trailing bytes");
    return r;
  };
  switch (static_cast<Rep>(p.code)) {
    case Rep::Accept:
    case Rep::Continue:
    case Rep::Discard:
    case Rep::Reject:
    case Rep::Tempfail:
    case Rep::Progress:
    case Rep::Skip:
    case Rep::Shutdown:
    case Rep::ConnFail:
      return no_data(static_cast<Rep>(p.code));
    case Rep::ReplyCode: {
      r.type = Rep::ReplyCode;
      if (!take_str(d, &pos, &r.text)) return Bad::bad("SMFIR_REPLYCODE without NUL");
      if (auto c = check_reply_code(r.text); !c) return Bad::bad("SMFIR_REPLYCODE: " + c.error());
      return done();
    }
    case Rep::Quarantine:
      r.type = Rep::Quarantine;
      if (!take_str(d, &pos, &r.text)) return Bad::bad("SMFIR_QUARANTINE without NUL");
      return done();
    case Rep::AddRcpt:
    case Rep::DelRcpt:
      r.type = static_cast<Rep>(p.code);
      if (!take_str(d, &pos, &r.text) || r.text.empty()) return Bad::bad(std::string(rep_name(p.code)) + ": no address");
      return done();
    case Rep::AddRcptPar:
    case Rep::ChgFrom:
      r.type = static_cast<Rep>(p.code);
      if (!take_str(d, &pos, &r.text)) return Bad::bad(std::string(rep_name(p.code)) + ": no address");
      if (r.type == Rep::AddRcptPar && r.text.empty()) return Bad::bad("SMFIR_ADDRCPT_PAR: no address");
      // The parameters are optional (libmilter sends none for a NULL argument).
      if (pos < d.size() && !take_str(d, &pos, &r.args))
        return Bad::bad(std::string(rep_name(p.code)) + ": parameters without NUL");
      return done();
    case Rep::AddHeader:
      r.type = Rep::AddHeader;
      if (!take_str(d, &pos, &r.name) || !take_str(d, &pos, &r.value)) return Bad::bad("SMFIR_ADDHEADER: truncated");
      break;
    case Rep::InsHeader:
    case Rep::ChgHeader:
      r.type = static_cast<Rep>(p.code);
      if (d.size() < 4) return Bad::bad(std::string(rep_name(p.code)) + ": truncated");
      r.index = get_u32(d);
      pos = 4;
      if (!take_str(d, &pos, &r.name) || !take_str(d, &pos, &r.value))
        return Bad::bad(std::string(rep_name(p.code)) + ": truncated");
      break;
    case Rep::ReplBody:
      r.type = Rep::ReplBody;
      r.value = std::string(d);
      return r;
    case Rep::SetSymList:
    case Rep::OptNeg:
    default:
      return Bad::bad(std::string("unexpected reply ") + rep_name(p.code));
  }
  // A header field: a name of printable characters without colon, a value of text.
  if (r.name.empty() || r.name.size() > 998) return Bad::bad(std::string(rep_name(p.code)) + ": bad header name");
  for (char c : r.name)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e || c == ':')
      return Bad::bad(std::string(rep_name(p.code)) + ": bad header name");
  return done();
}

const char* rep_name(char code) {
  switch (static_cast<Rep>(code)) {
    case Rep::AddRcpt: return "SMFIR_ADDRCPT";
    case Rep::DelRcpt: return "SMFIR_DELRCPT";
    case Rep::AddRcptPar: return "SMFIR_ADDRCPT_PAR";
    case Rep::Shutdown: return "SMFIR_SHUTDOWN";
    case Rep::Accept: return "SMFIR_ACCEPT";
    case Rep::ReplBody: return "SMFIR_REPLBODY";
    case Rep::Continue: return "SMFIR_CONTINUE";
    case Rep::Discard: return "SMFIR_DISCARD";
    case Rep::ChgFrom: return "SMFIR_CHGFROM";
    case Rep::ConnFail: return "SMFIR_CONN_FAIL";
    case Rep::AddHeader: return "SMFIR_ADDHEADER";
    case Rep::InsHeader: return "SMFIR_INSHEADER";
    case Rep::SetSymList: return "SMFIR_SETSYMLIST";
    case Rep::ChgHeader: return "SMFIR_CHGHEADER";
    case Rep::Progress: return "SMFIR_PROGRESS";
    case Rep::Quarantine: return "SMFIR_QUARANTINE";
    case Rep::Reject: return "SMFIR_REJECT";
    case Rep::Skip: return "SMFIR_SKIP";
    case Rep::Tempfail: return "SMFIR_TEMPFAIL";
    case Rep::ReplyCode: return "SMFIR_REPLYCODE";
    case Rep::OptNeg: return "SMFIC_OPTNEG";
  }
  return "unknown reply";
}

}  // namespace postilion::milter
