// smtpd/content_checks.h - header_checks, mime_header_checks, nested_header_checks and
// body_checks, as in Postfix's header_checks(5): the message content is fed through
// as it arrives, each logical (unfolded) header and each body line is looked up in its
// table, and the answer's action is applied to the content written to the queue file
// (IGNORE, REPLACE, PREPEND) or to the message (REJECT, DISCARD, HOLD, REDIRECT).
// No I/O: the session writes what comes out, logs the events and acts on the outcome.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/maps/maps.h"

namespace postilion::smtpd {

enum class ContentAction { Dunno, Ok, Reject, Discard, Hold, Warn, Ignore, Replace, Prepend, Redirect };

struct ContentRule {
  ContentAction action = ContentAction::Dunno;
  std::string text;  // the optional or required text after the action word
};

// A table's answer: "REJECT text", "PREPEND X-Tag: yes", "DUNNO". Unknown actions (and
// FILTER, which smtpd does not do), REPLACE/PREPEND/REDIRECT without their text: why.
Parsed<ContentRule> parse_content_action(std::string_view value);

struct ContentTables {
  maps::MapList* header = nullptr;         // primary message headers
  maps::MapList* mime_header = nullptr;    // MIME headers: Content-*, MIME-Version, part headers
  maps::MapList* nested_header = nullptr;  // headers of attached messages (message/rfc822)
  maps::MapList* body = nullptr;           // body lines of every part
  uint64_t body_size_limit = 51200;        // octets of each body part inspected (0: none)
};

// One thing to log, Postfix's "reject: header Subject: x from ...: 5.7.1 text".
struct ContentEvent {
  std::string action;  // reject, discard, hold, warning, replace, prepend, redirect
  std::string where;   // header or body
  std::string line;    // what the table saw
  std::string text;    // the reply text for reject (with its status code), else the optional text
};

class ContentInspector {
 public:
  // Longest line looked at; longer ones (possible with BDAT) are inspected in pieces.
  static constexpr size_t kMaxLine = 65536;
  // Longest logical header looked up; a longer one is passed on without a lookup.
  static constexpr size_t kMaxHeader = 102400;
  // Nested multiparts followed; deeper boundaries are body text.
  static constexpr size_t kMaxDepth = 100;

  explicit ContentInspector(ContentTables tables) : t_(tables) {}

  // Takes message content (CRLF lines; a piece may end within a line) and appends what
  // the queue file gets to *out. A partial line or a header that may still continue is
  // held until more comes or finish().
  void feed(std::string_view in, std::string* out);
  void finish(std::string* out);
  // Whole header lines smtpd adds itself (Message-ID:, Date:): written to *out as they
  // are, after the header being collected and before whatever is fed next.
  void pass(std::string_view lines, std::string* out);

  // New events since the last call.
  std::vector<ContentEvent> take_events() { return std::move(events_); }
  // Table entries with an unknown action: "header_checks: unknown action ..." (logged
  // as warnings; the entry counts as DUNNO, as in Postfix).
  std::vector<std::string> take_warnings() { return std::move(warnings_); }

  // The outcome so far. After a reject, a discard or a table failure nothing more is
  // inspected (and nothing more needs to be written).
  bool rejected() const { return reject_status_ != 0; }
  int reject_status() const { return reject_status_; }       // 550 (451 for a table failure)
  const std::string& reject_text() const { return reject_text_; }  // "5.7.1 text"
  bool discarded() const { return discarded_; }
  bool held() const { return held_; }
  const std::string& redirect() const { return redirect_; }
  bool stopped() const { return stopped_; }

 private:
  enum class Section { Header, Body };
  enum class HeaderKind { Primary, Part, Nested };

  void line(std::string_view line, std::string* out);
  void end_header(std::string* out);
  void start_body();
  bool boundary(std::string_view text);
  // Looks key up in table and acts; returns false when the line is not to be written
  // as it is (IGNORE, REPLACE), having written its replacement to *out.
  bool check(maps::MapList* table, const char* table_name, const char* where, std::string_view key,
             std::string* out);

  ContentTables t_;
  Section section_ = Section::Header;
  HeaderKind kind_ = HeaderKind::Primary;
  std::string pending_;     // a line not yet ended
  std::string header_;      // the logical header being collected, as written
  bool header_overflow_ = false;  // it grew past kMaxHeader: the rest goes straight out
  std::string content_type_;  // of the header block being read
  std::vector<std::string> boundaries_;
  uint64_t body_seen_ = 0;  // octets of this body part inspected
  bool stopped_ = false;

  std::vector<ContentEvent> events_;
  std::vector<std::string> warnings_;
  int reject_status_ = 0;
  std::string reject_text_;
  bool discarded_ = false;
  bool held_ = false;
  std::string redirect_;
};

}  // namespace postilion::smtpd
