// lib/queue/queue_writer.h - writes one queue file crash-safely.
// The message is durable when commit() returns an id, and not before. Until then it
// lives under `.tmp.<unique>` (readers skip dot names); abort() or the destructor
// removes it. After any failure the writer is dead: every later call fails.
//
// Order of calls: sender() (optional, first; none = null sender), then attribute()
// and recipient() in any order (at least one recipient), then append_content() any
// number of times (as DATA arrives), then commit().
//
// commit() = prepare_commit() + finish_commit(). prepare_commit() writes the tail and
// flushes the user-space buffer (cheap, on the event loop); finish_commit() does the
// slow, blocking part (fsync, rename, fsync of the directory) and may run in a worker
// thread, during which nobody else touches the writer. finish_commit_group() commits
// several prepared writers with one directory fsync per directory (group commit).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/base/unique_fd.h"
#include "lib/queue/file_ops.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/spare.h"

namespace postilion::queue {

class QueueWriter {
 public:
  // Bytes collected before one write(2).
  static constexpr size_t kBufferSize = 65536;

  // Creates dir/.tmp.<pid>.<n>.<us> (O_EXCL, 0600) and writes the header, arrival
  // time (now when arrival_us is 0) and an empty retry record. With a spare pool, a
  // spare queue file takes that name and is written over instead, when there is one
  // (spare.h).
  static Result<std::unique_ptr<QueueWriter>> create(const std::string& dir, FileOps& ops = system_ops(),
                                                     int64_t arrival_us = 0, SparePool* spare = nullptr);
  ~QueueWriter();
  QueueWriter(const QueueWriter&) = delete;
  QueueWriter& operator=(const QueueWriter&) = delete;

  // Bad input (too long, NUL/CR/LF, wrong order) is a permanent Error; the writer
  // stays usable after one. Write failures are temporary Errors and kill the writer.
  Status sender(std::string_view address);
  Status attribute(std::string_view name, std::string_view value);
  Status recipient(std::string_view address, std::string_view orcpt = {}, uint8_t notify = 0);
  Status append_content(std::string_view data);

  Status prepare_commit();
  // Returns the queue ID (the file is now dir/ID, durable).
  Result<std::string> finish_commit();
  Result<std::string> commit();
  // Each writer must have been prepared; one result per writer, in order.
  static std::vector<Result<std::string>> finish_commit_group(const std::vector<QueueWriter*>& writers);

  // The queue ID the file will get, fixed from now on (for log lines written before
  // the commit, as Postfix logs a queue ID from the start of DATA). The commit takes
  // another only if this one is taken meanwhile, which no other writer can do: IDs
  // hold the inode of the file, and this file keeps its inode.
  const std::string& reserve_id();
  // Takes over the reserved ID of a writer this one replaces (a message rewritten
  // with other recipients), so the lines logged under it stay with the message. The
  // commit still takes another ID if that name exists.
  void adopt_id(std::string id) { reserved_id_ = std::move(id); }
  // Commits into `dir` (a folder of the same spool, e.g. hold/) instead of the folder
  // the file was created in; call before finish_commit(). That folder is the one
  // fsynced: the temporary name left in the first is not mail (readers skip it).
  void set_final_dir(std::string dir) { final_dir_ = std::move(dir); }

  // Removes the temporary file. Idempotent.
  void abort();

  // The descriptor and where the content begins, for reading the message back once
  // prepare_commit() has written it all out (smtpd's mail filters).
  int fd() const { return fd_.get(); }
  uint64_t content_offset() const { return content_len_field_ + 4; }

  const std::string& temp_path() const { return tmp_path_; }
  const std::string& dir() const { return dir_; }
  uint64_t content_bytes() const { return content_len_; }

 private:
  enum class Stage { Sender, Envelope, Content, Prepared, Committed, Dead };

  QueueWriter(FileOps& ops, std::string dir, std::string tmp, UniqueFd fd, uint64_t ino);
  Status fail(Error e);
  Status put(std::string_view bytes, bool checksummed);
  Status put_record(RecordType type, std::string_view payload, bool checksum_payload = true);
  Status flush();
  Status write_sender_if_needed();
  Status start_content();

  FileOps& ops_;
  std::string dir_;
  std::string tmp_path_;
  UniqueFd fd_;
  uint64_t ino_;
  uint64_t old_size_ = 0;  // length of a reused spare file before this message
  Stage stage_ = Stage::Sender;
  std::string buf_;
  uint64_t pos_ = 0;  // bytes emitted (written + buffered)
  uint32_t crc_ = 0;
  size_t recipients_ = 0;
  size_t attributes_ = 0;
  uint64_t content_len_field_ = 0;  // offset of M's length field
  uint64_t content_len_ = 0;
  std::string reserved_id_;
  std::string final_dir_;  // empty: dir_
};

}  // namespace postilion::queue
