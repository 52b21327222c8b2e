// lib/queue/showq_protocol.h - the public/showq protocol (lib/ipc/protocols.h) in one place:
// showq(8)'s check of a request and its reply frames, and the client side used by
// postdrop(1) -p and -f. Everything read from the other side is checked; garbage is an
// error value.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/parsed.h"
#include "lib/base/result.h"
#include "lib/ipc/message.h"

namespace postilion::queue {

// Requests are one small frame; a listing as a whole is capped for the client.
inline constexpr size_t kShowqMaxRequest = 1024;
inline constexpr size_t kShowqMaxListing = size_t{256} << 20;

enum class ShowqRequest { List, Flush };

// The request, or nullopt with *why: anything but exactly one attribute cmd=list or
// cmd=flush is refused (a local user must not make showq do anything else).
Parsed<ShowqRequest> parse_showq_request(const ipc::Message& m);

// The frames answering a list request: the text in chunks of at most kShowqChunk
// bytes (status=part), then status=ok.
std::vector<ipc::Message> showq_listing_reply(std::string_view text);
ipc::Message showq_error_reply(std::string_view text);

// Collects a listing from the reply frames, one at a time.
class ListingReader {
 public:
  enum class Step { More, Done, Failed };
  Step take(const ipc::Message& m);
  const std::string& text() const { return text_; }
  // Why it failed: showq's error text, or what was wrong with the reply.
  const std::string& error() const { return error_; }

 private:
  std::string text_;
  std::string error_;
};

// Client calls over the socket at socket_path; timeout_ms bounds the whole exchange.
// A showq error comes back as a permanent Error with its text; an unreachable socket
// or a timeout as a temporary one.
Result<std::string> showq_list(const std::string& socket_path, int timeout_ms);
Status showq_flush(const std::string& socket_path, int timeout_ms);

}  // namespace postilion::queue
