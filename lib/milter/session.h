// lib/milter/session.h - the mail filters of one SMTP session (smtpd_milters) or one
// locally submitted message (non_smtpd_milters, qmgr's pickup), spoken to in
// the Sendmail milter protocol (lib/milter) on the session's event loop: one connection
// per filter per session, opened at the connect stage, and each stage (connect, HELO,
// MAIL, RCPT, DATA, then header, body and end of message) run through the filters in
// order. No call blocks; each stage ends in one call of its Done.
//
// A filter that cannot be reached, does not answer within its timeout, closes, or sends
// what the protocol does not allow is dropped for the rest of the session, and every
// stage it would have seen gets milter_default_action instead (tempfail, reject,
// accept: go on without it, quarantine: accept into the hold queue), as in Postfix.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/milter/headers.h"
#include "lib/milter/protocol.h"
#include "lib/smtp/reply.h"

namespace postilion::milter {

struct MilterConfig {
  std::vector<std::string> filters;  // "inet:host:port" or "unix:/path", in order
  uint32_t protocol = 6;
  std::string default_action = "tempfail";
  int64_t connect_timeout_ms = 30000;
  int64_t command_timeout_ms = 30000;
  int64_t content_timeout_ms = 300000;
  std::vector<std::string> macros[milter::kStages];  // per milter::Stage
  uint64_t max_body = 10240000;  // longest replacement body taken (message_size_limit)

};

// What a stage decided. Continue also when a filter accepted (it is left out of the
// rest of the transaction or session) or asked for a discard before the message.
struct MilterVerdict {
  enum class Kind { Continue, Reject, Tempfail, Discard };
  Kind kind = Kind::Continue;
  smtp::Reply reply;   // Reject, Tempfail: what the client hears
  std::string filter;  // the filter that decided; "" when none did
  std::string why;     // for the log: the reply or "milter triggers DISCARD action"
};

// The message at the end of DATA as the filters read it, and what they made of it.
struct MilterMessage {
  // The content as received, in the prepared queue file (read with pread).
  int fd = -1;
  uint64_t offset = 0, length = 0;
  // Reads the header section; false (and why) when the file cannot be read.
  bool load(std::string* why);

  milter::HeaderList headers;   // the fields, with the filters' edits
  uint64_t header_end = 0;      // where the received fields end in the content
  uint64_t body_start = 0;      // where the received body starts (after the empty line)
  bool headers_changed = false;
  std::optional<std::string> body;    // SMFIR_REPLBODY: the new body (CRLF lines)
  std::optional<std::string> sender;  // SMFIR_CHGFROM: the new sender, without <>
  std::vector<std::string> added_rcpts, deleted_rcpts;  // without <>
  std::optional<std::string> quarantine;                 // SMFIR_QUARANTINE: the reason
  bool changed() const {
    return headers_changed || body || sender || !added_rcpts.empty() || !deleted_rcpts.empty();
  }
};

// The message as the filters left it, in pieces to sink: the fields (edited, or as
// received), the empty line, the body (replaced, or as received, read from m's file).
// Stops at the first error of the file or of sink.
Status write_edited_content(const MilterMessage& m, const std::function<Status(std::string_view)>& sink);

// "inet:host:port" (host an IP address, or localhost: no DNS lookup in the loop) or
// "unix:/path", as smtpd_milters and check_policy_service name their servers; false
// with *why set otherwise.
bool parse_spec(const std::string& spec, sockaddr_storage* ss, socklen_t* len, std::string* why);

// A value of smtpd_milter_maps: "DISABLE" (any case: no filters, an empty list) or the
// filters as smtpd_milters lists them ("inet:host:port" or "unix:/path", separated by
// commas or white space), each checked with parse_spec. Error: an empty value, more than
// kMaxMilterList filters or a value longer than 4,000 bytes, or a filter parse_spec
// refuses (the error names it, printable and shortened).
constexpr size_t kMaxMilterList = 20;
Result<std::vector<std::string>> parse_milter_list(std::string_view value);

class MilterSession {
 public:
  // The value of a macro (name without braces: "i", "client_addr"); nullopt: undefined,
  // not sent.
  using Macros = std::function<std::optional<std::string>(std::string_view name)>;
  // May run inside the call that started the stage, or later from the loop.
  using Done = std::function<void(const MilterVerdict&)>;

  MilterSession(event::EventBase& base, const MilterConfig& cfg, Macros macros);
  ~MilterSession();  // says SMFIC_QUIT to every filter still open
  MilterSession(const MilterSession&) = delete;
  MilterSession& operator=(const MilterSession&) = delete;

  // family: '4', '6', 'L' or 'U' as in SMFIC_CONNECT.
  void connect(const std::string& hostname, char family, uint16_t port, const std::string& addr, Done done);
  void helo(const std::string& name, Done done);
  // args: "<address>" then the ESMTP parameters.
  void mail(std::vector<std::string> args, Done done);
  void rcpt(std::vector<std::string> args, Done done);
  void data(Done done);
  // Headers, end of header, body, end of message; the filters' edits go into *msg,
  // which must live until done runs.
  void message(MilterMessage* msg, Done done);
  // The transaction ended without a message (RSET, HELO, a refused DATA): SMFIC_ABORT.
  void abort();
  // The session ends: SMFIC_QUIT, connections closed.
  void quit();
  // Whether a failed filter asked for the default action quarantine in this transaction.
  bool quarantine_by_default() const { return quarantine_default_; }

 private:
  struct Filter;
  enum class Kind { Connect, Helo, Mail, Rcpt, Data, Message };
  enum class MsgStep { Headers, Eoh, Body, Eob, Final };

  void run(Kind kind, Done done);
  void next();
  void step();
  void advance();  // to the next filter
  void finish(MilterVerdict v);
  // Sends this stage to filter f; true when a reply is awaited.
  bool send_stage(Filter& f);
  // The message stage for filter f, step by step; true when a reply is awaited (or the
  // output is full and the filter's write callback resumes it).
  bool send_message_steps(Filter& f);
  void on_read(Filter& f);
  void on_event(Filter& f, short what);
  void on_packet(Filter& f, milter::Packet& p);
  void on_message_reply(Filter& f, const milter::Reply& r);
  void fail(Filter& f, const std::string& why);
  // What a failed filter costs the stage that runs; true when the stage goes on.
  bool default_action(Filter& f);
  void open(Filter& f);
  void negotiated(Filter& f, milter::Packet& p);
  void expect(Filter& f, int64_t timeout_ms);
  void send_macros(Filter& f, milter::Stage stage, milter::Cmd cmd);
  bool participates(const Filter& f) const;
  void close(Filter& f);

  event::EventBase& base_;
  MilterConfig cfg_;
  Macros macros_;
  std::vector<std::unique_ptr<Filter>> filters_;
  milter::Offer offer_;

  // The stage that runs.
  Kind kind_ = Kind::Connect;
  Done done_;
  size_t index_ = 0;
  bool running_ = false;
  bool in_next_ = false;
  bool again_ = false;
  bool discard_ = false;  // a filter asked to discard this transaction's message
  bool quarantine_default_ = false;
  // Stage arguments.
  std::string connect_host_, connect_addr_, helo_;
  char connect_family_ = 'U';
  uint16_t connect_port_ = 0;
  std::vector<std::string> args_;
  MilterMessage* msg_ = nullptr;
  // Message stage of the current filter.
  MsgStep step_ = MsgStep::Headers;
  size_t header_index_ = 0;
  uint64_t body_pos_ = 0;
  bool body_replaced_here_ = false;
  size_t edits_ = 0;         // changes asked for at the end of this message
  uint64_t edit_bytes_ = 0;  // ... and their size
};

}  // namespace postilion::milter
