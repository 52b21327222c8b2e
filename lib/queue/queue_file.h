// lib/queue/queue_file.h - the queue file format, and the strict reader.
//
// A queue file is a 6-byte header ("PSTQ" + version, big-endian u16) and typed,
// length-prefixed records: [type u8][length u32 big-endian][payload]. Order is fixed:
//   T arrival      8 bytes: microseconds since the epoch (i64)
//   R retry        16 bytes: attempts u32, next try i64 (us since epoch), CRC-32 of those 12
//   S sender       the envelope sender; empty = null sender (<>)
//   A attribute*   name=value (client_address, helo, protocol, sasl_username, envid,
//                  ret, size, body, smtputf8, ...); names [a-z0-9_]
//   P recipient+   status u8, ~status u8, notify u8, u16 address length, address,
//                  u16 orcpt length, orcpt   (S, then A and P records in any order)
//   M content      the message (header + body), raw; streamed by delivery agents
//                  straight from the file (QueueFile::content_offset/content_length)
//   K checksum     CRC-32 of every byte before it except the mutable ones (each
//                  recipient's two status bytes, the R payload, M's length field,
//                  which EOF alone pins down)
//   E end          empty; without it the file is incomplete
// Addresses, attribute names and values hold no NUL, CR or LF.
//
// Mutable fields are changed in place, never by rewriting the file: a recipient's
// status (pwrite of the byte and its complement: any single corrupted byte is caught)
// and the fixed-size, self-checked R record. Retry state lives in R, not
// in the file's mtime as in Postfix, because every status pwrite also bumps the mtime:
// one fixed record keeps the two updates independent, and holds the attempt count too.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/queue/file_ops.h"

namespace postilion::queue {

inline constexpr char kMagic[4] = {'P', 'S', 'T', 'Q'};
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 6;
inline constexpr size_t kRecordHeaderSize = 5;  // type + u32 length

enum class RecordType : uint8_t {
  Arrival = 'T',
  Retry = 'R',
  Sender = 'S',
  Attribute = 'A',
  Recipient = 'P',
  Content = 'M',
  Checksum = 'K',
  End = 'E',
};

// Limits: a record beyond them is bad input (writer refuses, reader rejects).
inline constexpr size_t kMaxAddress = 2048;
inline constexpr size_t kMaxAttribute = 8192;  // name=value
inline constexpr size_t kMaxAttributes = 1024;
inline constexpr size_t kMaxRecipients = 100000;
inline constexpr uint64_t kMaxContent = 0xffffffffu;

// A recipient's outcome, one byte in the file.
enum class RcptStatus : uint8_t {
  Pending = 'p',    // not yet delivered (also: deferred until now)
  Delivered = 'd',  // final: delivered
  Deferred = 'f',   // tried, temporary failure; will retry
  Bounced = 'b',    // final: failed, a DSN is owed/sent
};
bool valid_status(uint8_t b);
const char* status_name(RcptStatus s);
inline bool is_final(RcptStatus s) { return s == RcptStatus::Delivered || s == RcptStatus::Bounced; }

// DSN NOTIFY (RFC 3461). 0 = not given (the default: failure, delay).
enum NotifyFlag : uint8_t {
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};
inline constexpr uint8_t kNotifyMask = 0x0f;

struct Recipient {
  std::string address;
  std::string orcpt;  // DSN ORCPT (e.g. "rfc822;a@b"); empty if none
  uint8_t notify = 0;
  RcptStatus status = RcptStatus::Pending;
  uint64_t offset = 0;  // offset of this P record; its status byte is at offset + 5
};

struct RetryState {
  uint32_t attempts = 0;
  int64_t next_try_us = 0;
};

struct QueueFile {
  uint16_t version = kVersion;
  int64_t arrival_us = 0;
  RetryState retry;
  uint64_t retry_offset = 0;  // offset of the R record
  std::string sender;         // empty: null sender
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<Recipient> recipients;
  uint64_t content_offset = 0;  // first byte of the message in the file
  uint64_t content_length = 0;
  uint64_t file_size = 0;

  // The first attribute named `name`, or nullptr.
  const std::string* attribute(std::string_view name) const;
};

enum class Parse { Complete, Incomplete, Bad };

struct ParseResult {
  Parse status = Parse::Bad;
  std::string error;  // "bad record type 0x7f at offset 812", "truncated", "missing END"
  QueueFile file;     // meaningful only when Complete
};

// Where the reader gets bytes: a string (tests, fuzzing) or a file (pread).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly len bytes at off into out; an error means the environment failed.
  virtual Status read(uint64_t off, size_t len, char* out) = 0;
};

// Parses strictly: any deviation is Bad, a file cut short is Incomplete; only a file
// that checks out to the last byte is Complete. Environment errors from src are
// returned as the Result error.
Result<ParseResult> parse_queue_file(ByteSource& src);
ParseResult parse_queue_file(std::string_view data);

// An opened queue file: the parsed envelope and the descriptor (O_RDWR when opened
// for update) to stream content from and to update status bytes through.
struct OpenedQueueFile {
  ParseResult parsed;
  UniqueFd fd;
};

// Opens and parses path. Result error: the environment (ENOENT, EIO): try later.
// parsed.status != Complete: the file is unusable: quarantine it (Spool::quarantine).
// The descriptor holds a shared OFD lock until it is closed: qmgr reuses a finished
// file (spare.h) only under an exclusive lock, so no reader - a delivery agent qmgr
// gave up on, mailq - ever sees the file rewritten with another message. ENOENT also
// when the file is being reused right now.
Result<OpenedQueueFile> read_queue_file(const std::string& path, bool for_update = false);

// Streams the message (header + body) to sink in pieces of at most 64 KiB, read with
// pread from fd (no copy of the whole file; the fd's offset is untouched). Stops at the
// first error from the file or from sink.
Status stream_content(int fd, const QueueFile& file, const std::function<Status(std::string_view)>& sink);

// Records a recipient's outcome in place: checks that a P record starts at
// record_offset and overwrites its status byte (and complement). Not fsync'd, as
// Postfix does not: callers write an outcome only once the delivery it records is
// durable (the mailbox fsync'd, the next hop's 250, the report queued), so the write
// can only ever come too late, never too early. A killed process loses nothing of it
// (the page cache keeps it); an operating-system crash before writeback may, and the
// recipient is then delivered again - a duplicate after a power loss, never a lost
// message. An fsync of each outcome cost a disk flush per delivery (about a quarter of
// the end-to-end rate, bench/run e2e).
Status write_status(int fd, uint64_t record_offset, RcptStatus status, FileOps& ops = system_ops());
// Overwrites the R record at retry_offset, then fsyncs.
Status update_retry(int fd, uint64_t retry_offset, const RetryState& retry, FileOps& ops = system_ops());

// The 16-byte R payload (used by the writer and update_retry).
std::string encode_retry_payload(const RetryState& r);

// CRC-32 (IEEE), incremental: start with crc = 0.
uint32_t crc32_update(uint32_t crc, std::string_view data);

}  // namespace postilion::queue
