// lib/queue/queue_file.cc - strict queue file parser, in-place updates, CRC-32.
#include "lib/queue/queue_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::queue {
namespace {

constexpr size_t kChunk = 65536;

// Slicing-by-8 tables: t[0] is the classic byte table (reflected polynomial
// 0xedb88320); t[k][b] is the CRC of byte b followed by k zero bytes, so eight input
// bytes are folded with eight independent lookups instead of eight dependent ones.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t k = 1; k < 8; ++k) t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
  return t;
}

uint32_t get_u32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
uint16_t get_u16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
uint64_t get_u64(const char* p) { return (uint64_t{get_u32(p)} << 32) | get_u32(p + 4); }

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string_view d) : d_(d) {}
  uint64_t size() const override { return d_.size(); }
  Status read(uint64_t off, size_t len, char* out) override {
    d_.copy(out, len, off);
    return {};
  }

 private:
  std::string_view d_;
};

class FdSource : public ByteSource {
 public:
  FdSource(int fd, uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  Status read(uint64_t off, size_t len, char* out) override {
    while (len > 0) {
      ssize_t n = ::pread(fd_, out, len, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("read " + path_);
      if (n == 0) return Error("read " + path_ + ": file shrank while reading", EIO);
      out += n;
      off += static_cast<uint64_t>(n);
      len -= static_cast<size_t>(n);
    }
    return {};
  }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

// Reads a queue file through one window of kWindow bytes: a typical file (envelope
// and a message of up to ~100 KiB) is read with a single pread instead of one per
// record; larger requests (content chunks) go straight to the file.
class WindowedFdSource : public ByteSource {
 public:
  static constexpr size_t kWindow = 131072;
  WindowedFdSource(int fd, uint64_t size, const std::string& path) : file_(fd, size, path), size_(size) {}
  uint64_t size() const override { return size_; }
  Status read(uint64_t off, size_t len, char* out) override {
    if (off >= win_off_ && off - win_off_ <= win_.size() && win_.size() - (off - win_off_) >= len) {
      std::memcpy(out, win_.data() + (off - win_off_), len);
      return {};
    }
    if (len >= kWindow || off >= size_) return file_.read(off, len, out);
    win_.resize(static_cast<size_t>(std::min<uint64_t>(kWindow, size_ - off)));
    win_off_ = off;
    if (win_.size() < len) {  // asked past the size fstat saw: let the file say so
      win_.clear();
      return file_.read(off, len, out);
    }
    if (auto st = file_.read(off, win_.size(), win_.data()); !st) {
      win_.clear();
      return st;
    }
    std::memcpy(out, win_.data(), len);
    return {};
  }

 private:
  FdSource file_;
  uint64_t size_;
  uint64_t win_off_ = 0;
  std::string win_;
};

bool clean_text(std::string_view s) {
  for (char c : s)
    if (c == '\0' || c == '\r' || c == '\n') return false;
  return true;
}

bool attribute_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

class Parser {
 public:
  explicit Parser(ByteSource& src) : src_(src), size_(src.size()) {}

  Result<ParseResult> run() {
    ParseResult r;
    if (auto st = parse(r); !st) return st.error();
    return r;
  }

 private:
  ParseResult* out_ = nullptr;

  void bad(std::string why) {
    out_->status = Parse::Bad;
    out_->error = std::move(why);
  }
  void incomplete(std::string why) {
    out_->status = Parse::Incomplete;
    out_->error = std::move(why);
  }
  static std::string at(uint64_t off) { return " at offset " + std::to_string(off); }

  Status parse(ParseResult& r) {
    out_ = &r;
    QueueFile& f = r.file;
    char hdr[kHeaderSize];
    size_t have = size_ < kHeaderSize ? static_cast<size_t>(size_) : kHeaderSize;
    if (auto st = src_.read(0, have, hdr); !st) return st;
    for (size_t i = 0; i < have && i < 4; ++i)
      if (hdr[i] != kMagic[i]) return bad("not a queue file (bad magic)"), Status{};
    if (have < kHeaderSize) return incomplete("truncated header"), Status{};
    f.version = get_u16(hdr + 4);
    if (f.version != kVersion)
      return bad("unsupported queue file version " + std::to_string(f.version)), Status{};
    crc_ = crc32_update(0, std::string_view(hdr, kHeaderSize));

    enum class Want { Arrival, Retry, Sender, Envelope, Checksum, End, Eof } want = Want::Arrival;
    uint64_t off = kHeaderSize;
    std::string payload;
    for (;;) {
      if (want == Want::Eof) {
        if (off != size_) return bad("data after END" + at(off)), Status{};
        f.file_size = size_;
        r.status = Parse::Complete;
        return {};
      }
      if (off == size_) return incomplete(want == Want::End ? "missing END" : "truncated" + at(off)), Status{};
      if (size_ - off < kRecordHeaderSize) return incomplete("truncated record header" + at(off)), Status{};
      char rh[kRecordHeaderSize];
      if (auto st = src_.read(off, kRecordHeaderSize, rh); !st) return st;
      uint8_t type = static_cast<uint8_t>(rh[0]);
      uint64_t len = get_u32(rh + 1);
      auto rt = static_cast<RecordType>(type);
      bool expected = false;
      uint64_t max_len = 0;
      switch (rt) {
        case RecordType::Arrival: expected = want == Want::Arrival; max_len = 8; break;
        case RecordType::Retry: expected = want == Want::Retry; max_len = 16; break;
        case RecordType::Sender: expected = want == Want::Sender; max_len = kMaxAddress; break;
        case RecordType::Attribute: expected = want == Want::Envelope; max_len = kMaxAttribute; break;
        case RecordType::Recipient: expected = want == Want::Envelope; max_len = 7 + 2 * kMaxAddress; break;
        case RecordType::Content: expected = want == Want::Envelope; max_len = kMaxContent; break;
        case RecordType::Checksum: expected = want == Want::Checksum; max_len = 4; break;
        case RecordType::End: expected = want == Want::End; max_len = 0; break;
        default:
          return bad(str::format("bad record type 0x%02x", type) + at(off)), Status{};
      }
      if (!expected) return bad(str::format("unexpected record type '%c'", type) + at(off)), Status{};
      if (len > max_len)
        return bad(str::format("oversized record '%c' (%llu bytes)", type, static_cast<unsigned long long>(len)) +
                   at(off)),
               Status{};
      const uint32_t crc_before = crc_;  // what a K record must hold
      if (rt == RecordType::Content) {
        // The length field is not checksummed (it is patched at commit); EOF pins it.
        crc_ = crc32_update(crc_, std::string_view(rh, 1));
      } else {
        crc_ = crc32_update(crc_, std::string_view(rh, kRecordHeaderSize));
      }
      uint64_t body = off + kRecordHeaderSize;
      if (size_ - body < len) return incomplete("truncated record" + at(off)), Status{};
      if (rt == RecordType::Content) {
        if (f.recipients.empty())
          return bad("no recipients" + at(off)), Status{};
        std::string chunk;
        for (uint64_t done = 0; done < len;) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, len - done));
          chunk.resize(n);
          if (auto st = src_.read(body + done, n, chunk.data()); !st) return st;
          crc_ = crc32_update(crc_, chunk);
          done += n;
        }
        f.content_offset = body;
        f.content_length = len;
        want = Want::Checksum;
        off = body + len;
        continue;
      }
      payload.resize(static_cast<size_t>(len));
      if (len > 0)
        if (auto st = src_.read(body, payload.size(), payload.data()); !st) return st;
      std::string why;
      switch (rt) {
        case RecordType::Arrival:
          if (len != 8) return bad("bad arrival record length" + at(off)), Status{};
          f.arrival_us = static_cast<int64_t>(get_u64(payload.data()));
          want = Want::Retry;
          break;
        case RecordType::Retry: {
          if (len != 16) return bad("bad retry record length" + at(off)), Status{};
          if (crc32_update(0, std::string_view(payload.data(), 12)) != get_u32(payload.data() + 12))
            return bad("bad retry record checksum" + at(off)), Status{};
          f.retry.attempts = get_u32(payload.data());
          f.retry.next_try_us = static_cast<int64_t>(get_u64(payload.data() + 4));
          f.retry_offset = off;
          want = Want::Sender;
          break;  // payload not checksummed: it changes in place
        }
        case RecordType::Sender:
          if (!clean_text(payload)) return bad("bad sender" + at(off)), Status{};
          f.sender = payload;
          want = Want::Envelope;
          break;
        case RecordType::Attribute: {
          size_t eq = payload.find('=');
          if (eq == std::string::npos || !attribute_name_ok(std::string_view(payload).substr(0, eq)) ||
              !clean_text(payload))
            return bad("bad attribute" + at(off)), Status{};
          if (f.attributes.size() >= kMaxAttributes) return bad("too many attributes" + at(off)), Status{};
          f.attributes.emplace_back(payload.substr(0, eq), payload.substr(eq + 1));
          break;
        }
        case RecordType::Recipient: {
          if (len < 7) return bad("bad recipient record length" + at(off)), Status{};
          auto st = static_cast<uint8_t>(payload[0]);
          auto inv = static_cast<uint8_t>(payload[1]);
          if (!valid_status(st) || static_cast<uint8_t>(~st) != inv)
            return bad("bad recipient status" + at(off)), Status{};
          Recipient rc;
          rc.status = static_cast<RcptStatus>(st);
          rc.notify = static_cast<uint8_t>(payload[2]);
          if (rc.notify & ~kNotifyMask) return bad("bad recipient notify flags" + at(off)), Status{};
          size_t alen = get_u16(payload.data() + 3);
          if (alen == 0 || alen > kMaxAddress || 5 + alen + 2 > len)
            return bad("bad recipient address length" + at(off)), Status{};
          rc.address = payload.substr(5, alen);
          size_t olen = get_u16(payload.data() + 5 + alen);
          if (olen > kMaxAddress || 7 + alen + olen != len)
            return bad("bad recipient orcpt length" + at(off)), Status{};
          rc.orcpt = payload.substr(7 + alen, olen);
          if (!clean_text(rc.address) || !clean_text(rc.orcpt)) return bad("bad recipient" + at(off)), Status{};
          if (f.recipients.size() >= kMaxRecipients) return bad("too many recipients" + at(off)), Status{};
          rc.offset = off;
          f.recipients.push_back(std::move(rc));
          crc_ = crc32_update(crc_, std::string_view(payload).substr(2));
          break;
        }
        case RecordType::Checksum:
          if (len != 4) return bad("bad checksum record length" + at(off)), Status{};
          if (get_u32(payload.data()) != crc_before) return bad("checksum mismatch" + at(off)), Status{};
          want = Want::End;
          break;
        case RecordType::End:
          want = Want::Eof;
          break;
        default:
          return bad("internal parser state" + at(off)), Status{};
      }
      if (rt != RecordType::Retry && rt != RecordType::Recipient && rt != RecordType::Checksum)
        crc_ = crc32_update(crc_, payload);
      off = body + len;
    }
  }

  ByteSource& src_;
  uint64_t size_;
  uint32_t crc_ = 0;
};

}  // namespace

uint32_t crc32_update(uint32_t crc, std::string_view data) {
  static const CrcTables t = make_crc_tables();
  uint32_t c = crc ^ 0xffffffffu;
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  // Bytes are assembled explicitly (little-endian order of the reflected CRC), so the
  // result does not depend on the host's byte order or on alignment.
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = c ^ (uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24));
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

bool valid_status(uint8_t b) {
  switch (static_cast<RcptStatus>(b)) {
    case RcptStatus::Pending:
    case RcptStatus::Delivered:
    case RcptStatus::Deferred:
    case RcptStatus::Bounced:
      return true;
  }
  return false;
}

const char* status_name(RcptStatus s) {
  switch (s) {
    case RcptStatus::Pending: return "pending";
    case RcptStatus::Delivered: return "delivered";
    case RcptStatus::Deferred: return "deferred";
    case RcptStatus::Bounced: return "bounced";
  }
  return "?";
}

const std::string* QueueFile::attribute(std::string_view name) const {
  for (const auto& [n, v] : attributes)
    if (n == name) return &v;
  return nullptr;
}

Result<ParseResult> parse_queue_file(ByteSource& src) { return Parser(src).run(); }

ParseResult parse_queue_file(std::string_view data) {
  StringSource src(data);
  auto r = Parser(src).run();
  return r ? std::move(r.value()) : ParseResult{Parse::Bad, r.error().str(), {}};
}

namespace {

// A shared OFD lock, without waiting (read_queue_file).
Status lock_shared(int fd, const std::string& path) {
  struct flock fl {};
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return {};
  // Only qmgr's retire() holds the exclusive lock, for a file that is finished.
  if (errno == EAGAIN || errno == EACCES) return Error(path + ": queue file is being removed", ENOENT);
  return Error::from_errno("lock " + path);
}

}  // namespace

Result<OpenedQueueFile> read_queue_file(const std::string& path, bool for_update) {
  auto fd = file::open(path, (for_update ? O_RDWR : O_RDONLY) | O_NOFOLLOW);
  if (!fd) return fd.error();
  if (Status locked = lock_shared(fd->get(), path); !locked) return locked.error();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return Error::from_errno("fstat " + path);
  // Locked, the file can no longer be recycled (spare.h). It may have been between the
  // open and the lock: then the name is gone, or names another file.
  struct stat named;
  if (::lstat(path.c_str(), &named) != 0 || named.st_ino != st.st_ino || named.st_dev != st.st_dev)
    return Error(path + ": queue file was removed", ENOENT);
  OpenedQueueFile out;
  if (!S_ISREG(st.st_mode)) {
    out.parsed = ParseResult{Parse::Bad, "not a regular file", {}};
  } else {
    WindowedFdSource src(fd->get(), static_cast<uint64_t>(st.st_size), path);
    auto r = parse_queue_file(src);
    if (!r) return r.error();
    out.parsed = std::move(r.value());
  }
  out.fd = std::move(fd.value());
  return out;
}

Status stream_content(int fd, const QueueFile& f, const std::function<Status(std::string_view)>& sink) {
  FdSource src(fd, UINT64_MAX, "queue file");
  std::string chunk;
  for (uint64_t done = 0; done < f.content_length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, f.content_length - done));
    chunk.resize(n);
    if (auto st = src.read(f.content_offset + done, n, chunk.data()); !st) return st;
    if (auto st = sink(chunk); !st) return st;
    done += n;
  }
  return {};
}

Status write_status(int fd, uint64_t record_offset, RcptStatus status, FileOps& ops) {
  // Check that the offset names a recipient record: a wrong offset from a confused
  // peer must not scribble over the message.
  char rh[kRecordHeaderSize + 2];
  FdSource src(fd, UINT64_MAX, "queue file");
  if (auto st = src.read(record_offset, sizeof rh, rh); !st) return st;
  auto cur = static_cast<uint8_t>(rh[5]);
  if (rh[0] != static_cast<char>(RecordType::Recipient) || !valid_status(cur) ||
      static_cast<uint8_t>(~cur) != static_cast<uint8_t>(rh[6]))
    return Error("no recipient record at offset " + std::to_string(record_offset), EINVAL).set_permanent();
  auto b = static_cast<uint8_t>(status);
  const char pair[2] = {static_cast<char>(b), static_cast<char>(static_cast<uint8_t>(~b))};
  return ops.pwrite(fd, std::string_view(pair, 2), static_cast<off_t>(record_offset + kRecordHeaderSize));
}

Status update_retry(int fd, uint64_t retry_offset, const RetryState& retry, FileOps& ops) {
  char rh[kRecordHeaderSize];
  FdSource src(fd, UINT64_MAX, "queue file");
  if (auto st = src.read(retry_offset, sizeof rh, rh); !st) return st;
  if (rh[0] != static_cast<char>(RecordType::Retry) || get_u32(rh + 1) != 16)
    return Error("no retry record at offset " + std::to_string(retry_offset), EINVAL).set_permanent();
  if (auto st = ops.pwrite(fd, encode_retry_payload(retry), static_cast<off_t>(retry_offset + kRecordHeaderSize)); !st)
    return st;
  return ops.fsync(fd);
}

std::string encode_retry_payload(const RetryState& r) {
  std::string p;
  auto put32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>((v >> s) & 0xff));
  };
  put32(r.attempts);
  put32(static_cast<uint32_t>(static_cast<uint64_t>(r.next_try_us) >> 32));
  put32(static_cast<uint32_t>(static_cast<uint64_t>(r.next_try_us)));
  put32(crc32_update(0, p));
  return p;
}

}  // namespace postilion::queue
