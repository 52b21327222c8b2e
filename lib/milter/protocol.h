// lib/milter/protocol.h - the Sendmail milter protocol (libmilter's wire format, version
// 2 to 6): packets smtpd sends to a mail filter (SMFIC_*), and the decoder of what a
// filter sends back (SMFIR_*). No I/O: lib/milter/session.cc drives a socket with these.
//
// A packet is a 32-bit big-endian length (of what follows, at least 1), a command or
// reply byte, and length - 1 bytes of data. Strings in the data end with NUL.
// Everything a filter sends is untrusted: the decoder checks every length, every NUL
// and every field, and returns why a packet is bad as a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/parsed.h"

namespace postilion::milter {

// Commands (MTA -> filter).
enum class Cmd : char {
  Abort = 'A',
  Body = 'B',
  Connect = 'C',
  Macro = 'D',
  BodyEob = 'E',
  Helo = 'H',
  QuitNc = 'K',
  Header = 'L',
  Mail = 'M',
  Eoh = 'N',
  OptNeg = 'O',
  Quit = 'Q',
  Rcpt = 'R',
  Data = 'T',
  Unknown = 'U',
};

// Replies and modification requests (filter -> MTA).
enum class Rep : char {
  AddRcpt = '+',
  DelRcpt = '-',
  AddRcptPar = '2',
  Shutdown = '4',
  Accept = 'a',
  ReplBody = 'b',
  Continue = 'c',
  Discard = 'd',
  ChgFrom = 'e',
  ConnFail = 'f',
  AddHeader = 'h',
  InsHeader = 'i',
  SetSymList = 'l',
  ChgHeader = 'm',
  Progress = 'p',
  Quarantine = 'q',
  Reject = 'r',
  Skip = 's',
  Tempfail = 't',
  ReplyCode = 'y',
  OptNeg = 'O',
};

// Actions a filter may take (SMFIF_*), offered by the MTA and asked for by the filter.
enum : uint32_t {
  kActAddHdrs = 0x01,
  kActChgBody = 0x02,
  kActAddRcpt = 0x04,
  kActDelRcpt = 0x08,
  kActChgHdrs = 0x10,
  kActQuarantine = 0x20,
  kActChgFrom = 0x40,
  kActAddRcptPar = 0x80,
  kActSetSymList = 0x100,
};

// Protocol steps (SMFIP_*): what the filter does not want to see (NO*), which commands
// it does not answer (NR_*), and other behaviour it negotiates.
enum : uint32_t {
  kNoConnect = 0x1,
  kNoHelo = 0x2,
  kNoMail = 0x4,
  kNoRcpt = 0x8,
  kNoBody = 0x10,
  kNoHdrs = 0x20,
  kNoEoh = 0x40,
  kNrHdr = 0x80,  // SMFIP_NOHREPL
  kNoUnknown = 0x100,
  kNoData = 0x200,
  kSkip = 0x400,
  kRcptRej = 0x800,
  kNrConn = 0x1000,
  kNrHelo = 0x2000,
  kNrMail = 0x4000,
  kNrRcpt = 0x8000,
  kNrData = 0x10000,
  kNrUnkn = 0x20000,
  kNrEoh = 0x40000,
  kNrBody = 0x80000,
  kHdrLeadSpc = 0x100000,
  kMds256K = 0x10000000,
  kMds1M = 0x20000000,
};

// Macro stages of SMFIR_SETSYMLIST (SMFIM_*), in the order of the protocol.
enum class Stage : uint32_t { Connect = 0, Helo = 1, EnvFrom = 2, EnvRcpt = 3, Data = 4, Eom = 5, Eoh = 6 };
inline constexpr uint32_t kStages = 7;

// Largest packet data this side accepts from a filter (SMFIR_REPLBODY chunks are at
// most 64 KiB in libmilter; 1 MiB leaves room for the negotiated larger sizes).
inline constexpr uint32_t kMaxPacket = 1024 * 1024;
// Body chunks this side sends (libmilter's MILTER_CHUNK_SIZE).
inline constexpr size_t kChunkSize = 65535;

// What the MTA offers in SMFIC_OPTNEG for a protocol version (2, 3, 4 or 6).
struct Offer {
  uint32_t version = 6;
  uint32_t actions = 0;
  uint32_t protocol = 0;
};
Offer offer_for_version(uint32_t version);

// ---- encoder -------------------------------------------------------------------------
// Each returns one whole packet (length, command, data).
std::string encode(Cmd cmd, std::string_view data = {});
std::string optneg(const Offer& o);
// family: '4', '6', 'L' (local socket) or 'U' (unknown: no port or address follows).
std::string connect(std::string_view hostname, char family, uint16_t port, std::string_view address);
std::string helo(std::string_view name);
// args: the address in <>, then the ESMTP parameters, each one string.
std::string mail(const std::vector<std::string>& args);
std::string rcpt(const std::vector<std::string>& args);
std::string header(std::string_view name, std::string_view value);
std::string body(std::string_view chunk);
// The macros for the command that follows (cmd), as name/value pairs.
std::string macros(Cmd cmd, const std::vector<std::pair<std::string, std::string>>& values);

// ---- decoder -------------------------------------------------------------------------
struct Packet {
  char code = 0;
  std::string data;
};

// Splits a byte stream into packets. feed() takes what it can: NeedMore until a whole
// packet is buffered; Bad (and stays bad) for a length of 0 or over max.
class Framer {
 public:
  enum class Status { NeedMore, Packet, Bad };
  explicit Framer(uint32_t max = kMaxPacket) : max_(max) {}
  // Consumes bytes from in (*used says how many); on Packet, *out holds one packet.
  Status feed(std::string_view in, size_t* used, Packet* out);
  const std::string& error() const { return error_; }

 private:
  uint32_t max_;
  std::string buf_;
  bool bad_ = false;
  std::string error_;
};

// The answer to SMFIC_OPTNEG: what the filter takes, and the macros it wants per stage
// (SMFIR_SETSYMLIST; empty: the MTA's own lists).
struct Negotiated {
  uint32_t version = 0;
  uint32_t actions = 0;
  uint32_t protocol = 0;
  std::vector<std::string> symlist[kStages];  // macro names as the filter wrote them
  bool has_symlist[kStages] = {};
};
// Refuses a version below 2, actions or protocol steps outside what was offered (a
// filter that wants what the MTA cannot do must not be used), and a bad symbol list.
Parsed<Negotiated> decode_optneg(const Packet& p, const Offer& offered);

// One decoded reply or modification request.
struct Reply {
  Rep type = Rep::Continue;
  // ReplyCode: the SMTP reply ("550 5.7.1 text", perhaps multi-line with CRLF);
  // Quarantine: the reason; AddRcpt, DelRcpt, AddRcptPar, ChgFrom: the address.
  std::string text;
  // AddRcptPar, ChgFrom: the ESMTP parameters (may be empty).
  std::string args;
  // AddHeader, InsHeader, ChgHeader: the field; ReplBody: the body chunk.
  std::string name, value;
  // InsHeader: position among all header fields; ChgHeader: the occurrence (1 first)
  // of that name (an empty value deletes it).
  uint32_t index = 0;
};
Parsed<Reply> decode_reply(const Packet& p);

// Checks an SMFIR_REPLYCODE text: a 4xx or 5xx code, an optional enhanced code of the
// same class, lines joined with CRLF each starting with the same code. Returns the code.
Parsed<int> check_reply_code(std::string_view text);

// A human name for a reply code, for logs ("reject", "SMFIR_REPLBODY" style).
const char* rep_name(char code);

}  // namespace postilion::milter
