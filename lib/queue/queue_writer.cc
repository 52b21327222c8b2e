// lib/queue/queue_writer.cc - crash-safe queue file writer (see queue_writer.h and
// STYLE.md, "The queue file": temp name, records, END, fsync, rename, fsync dir).
#include "lib/queue/queue_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/queue/queue_id.h"

namespace postilion::queue {
namespace {

void put_u16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xff));
}
void put_u32(std::string& s, uint32_t v) {
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
}
void put_u64(std::string& s, uint64_t v) {
  put_u32(s, static_cast<uint32_t>(v >> 32));
  put_u32(s, static_cast<uint32_t>(v));
}

bool clean_text(std::string_view s) {
  for (char c : s)
    if (c == '\0' || c == '\r' || c == '\n') return false;
  return true;
}

Error bad_input(const std::string& what) { return Error(what, EINVAL).set_permanent(); }

}  // namespace

QueueWriter::QueueWriter(FileOps& ops, std::string dir, std::string tmp, UniqueFd fd, uint64_t ino)
    : ops_(ops), dir_(std::move(dir)), tmp_path_(std::move(tmp)), fd_(std::move(fd)), ino_(ino) {
  buf_.reserve(kBufferSize);
}

QueueWriter::~QueueWriter() { abort(); }

const std::string& QueueWriter::reserve_id() {
  if (reserved_id_.empty()) reserved_id_ = make_id(next_id_time(), ino_);
  return reserved_id_;
}

Result<std::unique_ptr<QueueWriter>> QueueWriter::create(const std::string& dir, FileOps& ops, int64_t arrival_us,
                                                         SparePool* spare) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = file::join(dir, str::format(".tmp.%ld.%llu.%lld", static_cast<long>(::getpid()),
                                                static_cast<unsigned long long>(++counter),
                                                static_cast<long long>(file::now_us())));
  uint64_t old_size = 0;
  Result<UniqueFd> fd = Error("no spare queue file", ENOENT);
  if (spare) fd = spare->take(tmp, ops, &old_size);
  if (!fd) fd = ops.open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (!fd) return fd.error();
  struct stat st;
  uint64_t ino = 0;
  if (::fstat(fd->get(), &st) == 0) ino = st.st_ino;
  std::unique_ptr<QueueWriter> w(new QueueWriter(ops, dir, tmp, std::move(fd.value()), ino));
  w->old_size_ = old_size;
  if (ino == 0) {
    return w->fail(Error::from_errno("fstat " + tmp)).error();
  }
  std::string hdr(kMagic, 4);
  put_u16(hdr, kVersion);
  std::string t;
  put_u64(t, static_cast<uint64_t>(arrival_us ? arrival_us : file::now_us()));
  Status st2 = w->put(hdr, true);
  if (st2) st2 = w->put_record(RecordType::Arrival, t);
  if (st2) st2 = w->put_record(RecordType::Retry, encode_retry_payload(RetryState{}), false);
  if (!st2) return st2.error();
  return w;
}

Status QueueWriter::fail(Error e) {
  stage_ = Stage::Dead;
  abort();
  return e;
}

void QueueWriter::abort() {
  if (stage_ != Stage::Committed) stage_ = Stage::Dead;
  fd_.reset();
  if (!tmp_path_.empty()) {
    (void)ops_.unlink(tmp_path_);  // best effort: a crash leaves it too; qmgr sweeps old .tmp files
    tmp_path_.clear();
  }
}

Status QueueWriter::flush() {
  if (buf_.empty()) return {};
  Status st = ops_.write(fd_.get(), buf_);
  buf_.clear();
  if (!st) return fail(st.error());
  return {};
}

Status QueueWriter::put(std::string_view bytes, bool checksummed) {
  if (checksummed) crc_ = crc32_update(crc_, bytes);
  pos_ += bytes.size();
  if (buf_.size() + bytes.size() <= kBufferSize) {
    buf_.append(bytes);
    return {};
  }
  if (auto st = flush(); !st) return st;
  if (bytes.size() >= kBufferSize) {
    // Big chunks go straight to the file: no copy through the buffer.
    if (auto st = ops_.write(fd_.get(), bytes); !st) return fail(st.error());
    return {};
  }
  buf_.append(bytes);
  return {};
}

Status QueueWriter::put_record(RecordType type, std::string_view payload, bool checksum_payload) {
  std::string h(1, static_cast<char>(type));
  put_u32(h, static_cast<uint32_t>(payload.size()));
  if (auto st = put(h, true); !st) return st;
  return put(payload, checksum_payload);
}

Status QueueWriter::write_sender_if_needed() {
  if (stage_ != Stage::Sender) return {};
  stage_ = Stage::Envelope;
  return put_record(RecordType::Sender, "");
}

Status QueueWriter::sender(std::string_view address) {
  if (stage_ == Stage::Dead) return Error("queue file writer failed earlier", EIO);
  if (stage_ != Stage::Sender) return bad_input("sender after other records");
  if (address.size() > kMaxAddress || !clean_text(address)) return bad_input("bad sender address");
  stage_ = Stage::Envelope;
  return put_record(RecordType::Sender, address);
}

Status QueueWriter::attribute(std::string_view name, std::string_view value) {
  if (stage_ == Stage::Dead) return Error("queue file writer failed earlier", EIO);
  if (stage_ != Stage::Sender && stage_ != Stage::Envelope) return bad_input("attribute after content");
  bool name_ok = !name.empty() && name.size() <= 64;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) name_ok = false;
  if (!name_ok) return bad_input("bad attribute name " + str::printable(name));
  if (name.size() + 1 + value.size() > kMaxAttribute || !clean_text(value))
    return bad_input("bad attribute value for " + std::string(name));
  if (attributes_ >= kMaxAttributes) return bad_input("too many attributes");
  if (auto st = write_sender_if_needed(); !st) return st;
  ++attributes_;
  std::string p(name);
  p += '=';
  p += value;
  return put_record(RecordType::Attribute, p);
}

Status QueueWriter::recipient(std::string_view address, std::string_view orcpt, uint8_t notify) {
  if (stage_ == Stage::Dead) return Error("queue file writer failed earlier", EIO);
  if (stage_ != Stage::Sender && stage_ != Stage::Envelope) return bad_input("recipient after content");
  if (address.empty() || address.size() > kMaxAddress || !clean_text(address))
    return bad_input("bad recipient address");
  if (orcpt.size() > kMaxAddress || !clean_text(orcpt)) return bad_input("bad ORCPT");
  if (notify & ~kNotifyMask) return bad_input("bad NOTIFY flags");
  if (recipients_ >= kMaxRecipients) return bad_input("too many recipients");
  if (auto st = write_sender_if_needed(); !st) return st;
  ++recipients_;
  auto status = static_cast<uint8_t>(RcptStatus::Pending);
  std::string fixed;
  fixed.push_back(static_cast<char>(status));
  fixed.push_back(static_cast<char>(static_cast<uint8_t>(~status)));
  std::string rest;
  rest.push_back(static_cast<char>(notify));
  put_u16(rest, static_cast<uint16_t>(address.size()));
  rest += address;
  put_u16(rest, static_cast<uint16_t>(orcpt.size()));
  rest += orcpt;
  std::string h(1, static_cast<char>(RecordType::Recipient));
  put_u32(h, static_cast<uint32_t>(fixed.size() + rest.size()));
  if (auto st = put(h, true); !st) return st;
  if (auto st = put(fixed, false); !st) return st;  // status bytes change in place
  return put(rest, true);
}

Status QueueWriter::start_content() {
  if (recipients_ == 0) return bad_input("no recipients");
  stage_ = Stage::Content;
  // The length is patched by prepare_commit(); it is outside the checksum.
  if (auto st = put(std::string(1, static_cast<char>(RecordType::Content)), true); !st) return st;
  content_len_field_ = pos_;
  return put(std::string(4, '\0'), false);
}

Status QueueWriter::append_content(std::string_view data) {
  if (stage_ == Stage::Dead) return Error("queue file writer failed earlier", EIO);
  if (stage_ == Stage::Sender || stage_ == Stage::Envelope) {
    if (auto st = start_content(); !st) return st;
  } else if (stage_ != Stage::Content) {
    return bad_input("content after commit");
  }
  if (content_len_ + data.size() > kMaxContent) return fail(Error("message too large for a queue file", EFBIG));
  content_len_ += data.size();
  return put(data, true);
}

Status QueueWriter::prepare_commit() {
  if (stage_ == Stage::Dead) return Error("queue file writer failed earlier", EIO);
  if (stage_ == Stage::Prepared) return {};
  if (stage_ != Stage::Content) {
    if (auto st = start_content(); !st) return st;
  }
  std::string k;
  put_u32(k, crc_);
  if (auto st = put_record(RecordType::Checksum, k); !st) return st;
  if (auto st = put_record(RecordType::End, ""); !st) return st;
  if (auto st = flush(); !st) return st;
  std::string len;
  put_u32(len, static_cast<uint32_t>(content_len_));
  if (auto st = ops_.pwrite(fd_.get(), len, static_cast<off_t>(content_len_field_)); !st) return fail(st.error());
  // A reused file (spare.h) loses what is left of the old message behind the new end.
  if (old_size_ > pos_ && ::ftruncate(fd_.get(), static_cast<off_t>(pos_)) != 0)
    return fail(Error::from_errno("truncate " + tmp_path_));
  stage_ = Stage::Prepared;
  return {};
}

Result<std::string> QueueWriter::finish_commit() { return std::move(finish_commit_group({this})[0]); }

Result<std::string> QueueWriter::commit() {
  if (auto st = prepare_commit(); !st) return st.error();
  return finish_commit();
}

std::vector<Result<std::string>> QueueWriter::finish_commit_group(const std::vector<QueueWriter*>& writers) {
  std::vector<Result<std::string>> out;
  std::vector<std::string> final_path(writers.size());
  out.reserve(writers.size());
  // 0. start writing every file of a group at once: the fsyncs below then wait for
  // writes already under way rather than each starting its own in turn.
  if (writers.size() > 1)
    for (QueueWriter* w : writers)
      if (w->stage_ == Stage::Prepared) w->ops_.start_writeback(w->fd_.get());
  // 1. fsync every file, 2. rename each to its ID: only a durable file gets a name.
  for (size_t i = 0; i < writers.size(); ++i) {
    QueueWriter& w = *writers[i];
    if (w.stage_ != Stage::Prepared) {
      out.emplace_back(Error("queue file not prepared for commit", EINVAL));
      continue;
    }
    if (auto st = w.ops_.fsync(w.fd_.get()); !st) {
      out.emplace_back(w.fail(Error("fsync " + w.tmp_path_ + ": " + st.error().str(), st.error().code())).error());
      continue;
    }
    Status renamed = Error("rename: no free queue id", EEXIST);
    std::string id;
    const std::string& dir = w.final_dir_.empty() ? w.dir_ : w.final_dir_;
    for (int attempt = 0; attempt < 5 && !renamed && renamed.error().code() == EEXIST; ++attempt) {
      id = attempt == 0 && !w.reserved_id_.empty() ? w.reserved_id_ : make_id(next_id_time(), w.ino_);
      renamed = w.ops_.rename(w.tmp_path_, file::join(dir, id));
    }
    if (!renamed) {
      out.emplace_back(w.fail(renamed.error()).error());
      continue;
    }
    w.tmp_path_.clear();
    final_path[i] = file::join(dir, id);
    out.emplace_back(id);
  }
  // 3. one fsync per directory for the whole group.
  std::vector<std::pair<std::string, Status>> synced;
  for (size_t i = 0; i < writers.size(); ++i) {
    if (!out[i]) continue;
    QueueWriter& w = *writers[i];
    const Status* st = nullptr;
    const std::string& dir = w.final_dir_.empty() ? w.dir_ : w.final_dir_;
    for (auto& [d, s] : synced)
      if (d == dir) st = &s;
    if (!st) {
      synced.emplace_back(dir, w.ops_.fsync_dir(dir));
      st = &synced.back().second;
    }
    if (!*st) {
      // The name may not survive a crash, so the message was not accepted: take the
      // name back so it is not delivered behind the client's back either.
      (void)w.ops_.unlink(final_path[i]);
      out[i] = w.fail(st->error()).error();
      continue;
    }
    w.stage_ = Stage::Committed;
    w.fd_.reset();
  }
  return out;
}

}  // namespace postilion::queue
