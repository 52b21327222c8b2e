// lib/ipc/message.h - the one framed attribute protocol Postilion daemons speak over
// Unix stream sockets.
//
// A frame is a 4-byte big-endian body length, then the body: a sequence of attributes,
// each `u16 name length, name, u32 value length, value` (names are ASCII [a-z0-9_.-],
// values are arbitrary bytes). Attribute order is kept; names may repeat (lists, e.g.
// one `rcpt` per recipient). Readers trust nothing: every size is checked against the
// decoder's limits, and garbage is an error value, never an exception or a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/base/result.h"
#include "lib/base/unique_fd.h"

namespace postilion::ipc {

constexpr size_t kDefaultMaxFrame = 1 << 20;  // 1 MiB
constexpr size_t kMaxAttributes = 100000;

class Message {
 public:
  Message() = default;

  Message& set(std::string name, std::string value);
  Message& set(std::string name, int64_t value);
  Message& set(std::string name, const char* value) { return set(std::move(name), std::string(value)); }
  // Replaces the first attribute of that name (or appends).
  Message& replace(std::string_view name, std::string value);

  // First value of that name.
  std::optional<std::string_view> get(std::string_view name) const;
  // First value as a decimal integer; nullopt if missing or not a number.
  std::optional<int64_t> get_int(std::string_view name) const;
  // Value, or def when missing.
  std::string get_or(std::string_view name, std::string_view def) const;
  // All values of that name, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }

  const std::vector<std::pair<std::string, std::string>>& attrs() const { return attrs_; }
  bool empty() const { return attrs_.empty(); }

  // The whole frame: length prefix + body.
  std::string encode() const;
  // Parses a body (without the length prefix). Error text says what is wrong and where.
  static Parsed<Message> decode_body(std::string_view body);

 private:
  std::vector<std::pair<std::string, std::string>> attrs_;
};

// Incremental frame decoder: feed bytes as they arrive, take complete messages.
class Decoder {
 public:
  explicit Decoder(size_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}

  enum class Status { NeedMore, Ready, Error };
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // Ready: *out holds the next message. Error: the stream is garbage (why says how);
  // the caller drops the peer. The decoder stays in Error once there.
  Status next(Message* out, std::string* why);
  size_t buffered() const { return buf_.size(); }

 private:
  std::string buf_;
  size_t max_frame_;
  bool failed_ = false;
};

// Blocking helpers, for command-line tools and the few daemon paths that are allowed to
// block (never inside an event loop). timeout_ms bounds each whole operation.
Result<UniqueFd> connect_unix(const std::string& path, int timeout_ms);
Status write_message(int fd, const Message& m, int timeout_ms);
Result<Message> read_message(int fd, int timeout_ms, size_t max_frame = kDefaultMaxFrame);
// connect, send request, read one reply.
Result<Message> call(const std::string& socket_path, const Message& request, int timeout_ms);

// Descriptor passing over a Unix stream socket (SCM_RIGHTS) with one byte of payload.
Status send_fd(int sock, int fd);
Result<UniqueFd> recv_fd(int sock, int timeout_ms);

// A Unix listening socket at path (an old socket file there is replaced), mode applied.
Result<UniqueFd> listen_unix(const std::string& path, mode_t mode, int backlog = 128);

}  // namespace postilion::ipc
