// lib/ipc/message.cc - encoding and strict decoding of attribute messages.
#include "lib/ipc/message.h"

#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::ipc {
namespace {

void put_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

uint32_t get_u32(std::string_view s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 255) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Message& Message::set(std::string name, std::string value) {
  attrs_.emplace_back(std::move(name), std::move(value));
  return *this;
}

Message& Message::set(std::string name, int64_t value) {
  return set(std::move(name), std::to_string(value));
}

Message& Message::replace(std::string_view name, std::string value) {
  for (auto& [n, v] : attrs_) {
    if (n == name) {
      v = std::move(value);
      return *this;
    }
  }
  return set(std::string(name), std::move(value));
}

std::optional<std::string_view> Message::get(std::string_view name) const {
  for (const auto& [n, v] : attrs_)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

std::optional<int64_t> Message::get_int(std::string_view name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return str::parse_int(*v);
}

std::string Message::get_or(std::string_view name, std::string_view def) const {
  auto v = get(name);
  return std::string(v ? *v : def);
}

std::vector<std::string_view> Message::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : attrs_)
    if (n == name) out.emplace_back(v);
  return out;
}

std::string Message::encode() const {
  std::string body;
  for (const auto& [n, v] : attrs_) {
    // A bad name is a bug in the sender, not input from a peer.
    if (!valid_name(n)) PANIC("ipc: bad attribute name \"%s\"", str::printable(n).c_str());
    put_u16(body, static_cast<uint16_t>(n.size()));
    body += n;
    put_u32(body, static_cast<uint32_t>(v.size()));
    body += v;
  }
  std::string frame;
  frame.reserve(body.size() + 4);
  put_u32(frame, static_cast<uint32_t>(body.size()));
  frame += body;
  return frame;
}

Parsed<Message> Message::decode_body(std::string_view body) {
  Message m;
  size_t at = 0;
  auto fail = [&](const std::string& what) { return Parsed<Message>::bad(what + " at offset " + std::to_string(at)); };
  while (at < body.size()) {
    if (m.attrs_.size() >= kMaxAttributes) return fail("too many attributes");
    if (body.size() - at < 2) return fail("truncated name length");
    size_t nlen = (size_t(uint8_t(body[at])) << 8) | uint8_t(body[at + 1]);
    at += 2;
    if (body.size() - at < nlen) return fail("truncated name");
    std::string_view name = body.substr(at, nlen);
    if (!valid_name(name)) return fail("bad attribute name");
    at += nlen;
    if (body.size() - at < 4) return fail("truncated value length");
    size_t vlen = get_u32(body, at);
    at += 4;
    if (body.size() - at < vlen) return fail("truncated value of \"" + std::string(name) + "\"");
    m.attrs_.emplace_back(std::string(name), std::string(body.substr(at, vlen)));
    at += vlen;
  }
  return m;
}

Decoder::Status Decoder::next(Message* out, std::string* why) {
  if (failed_) {
    if (why) *why = "stream already failed";
    return Status::Error;
  }
  if (buf_.size() < 4) return Status::NeedMore;
  size_t len = get_u32(buf_, 0);
  if (len > max_frame_) {
    failed_ = true;
    if (why) *why = "frame of " + std::to_string(len) + " bytes exceeds limit " + std::to_string(max_frame_);
    return Status::Error;
  }
  if (buf_.size() - 4 < len) return Status::NeedMore;
  auto m = Message::decode_body(std::string_view(buf_).substr(4, len));
  buf_.erase(0, 4 + len);
  if (!m) {
    failed_ = true;
    if (why) *why = m.error();
    return Status::Error;
  }
  *out = std::move(*m);
  return Status::Ready;
}

}  // namespace postilion::ipc
