// lib/queue/spool_store.cc - the queue manager's Store on lib/queue.
#include "lib/queue/spool_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mail/dsn.h"
#include "lib/queue/queue_id.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/spare.h"

namespace postilion::queue {

unsigned notify_from_queue(uint8_t b) {
  if (b & queue::kNotifyNever) return mail::kNotifyNever;
  unsigned n = 0;
  if (b & queue::kNotifySuccess) n |= mail::kNotifySuccess;
  if (b & queue::kNotifyFailure) n |= mail::kNotifyFailure;
  if (b & queue::kNotifyDelay) n |= mail::kNotifyDelay;
  return n;
}

uint8_t notify_to_queue(unsigned n) {
  if (n & mail::kNotifyNever) return queue::kNotifyNever;
  uint8_t b = 0;
  if (n & mail::kNotifySuccess) b |= queue::kNotifySuccess;
  if (n & mail::kNotifyFailure) b |= queue::kNotifyFailure;
  if (n & mail::kNotifyDelay) b |= queue::kNotifyDelay;
  return b;
}


Result<std::string> SpoolStore::path(const std::string& q, const std::string& id) const {
  queue::Folder f;
  if (!queue::parse_folder(q, &f)) PANIC("spool store: unknown queue folder %s", q.c_str());
  if (!queue::valid_id(id)) return Error(q + "/" + str::printable(id, 60) + ": not a queue id").set_permanent();
  return spool_.path(f, id);
}

std::vector<std::string> SpoolStore::list(const std::string& q) {
  std::vector<std::string> out;
  queue::Folder f;
  if (!queue::parse_folder(q, &f)) return out;
  DIR* d = ::opendir(spool_.dir(f).c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (queue::valid_id(e->d_name)) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());  // ids sort by arrival
  return out;
}

Result<queue::OpenedQueueFile> SpoolStore::open(const std::string& q, const std::string& id, bool for_update) {
  auto p = path(q, id);
  if (!p) return p.error();
  return queue::read_queue_file(*p, for_update);
}

Result<StoredMessage> SpoolStore::load(const std::string& q, const std::string& id, bool* corrupt) {
  *corrupt = false;
  auto p = path(q, id);
  if (!p) {
    *corrupt = true;
    return p.error();
  }
  auto f = queue::read_queue_file(*p);
  if (!f) return f.error();
  if (f->parsed.status != queue::Parse::Complete) {
    *corrupt = true;
    return Error(f->parsed.error.empty() ? "incomplete queue file" : f->parsed.error).set_permanent();
  }
  const queue::QueueFile& qf = f->parsed.file;
  StoredMessage m;
  m.id = id;
  m.sender = qf.sender;
  m.arrival = qf.arrival_us / 1000000;
  m.arrival_us = qf.arrival_us;
  m.size = qf.content_length;
  if (auto* e = qf.attribute("envid")) m.envid = *e;
  if (auto* r = qf.attribute("ret")) m.ret = mail::parse_ret(*r).value_or(mail::Ret::Default);
  // maildrop/ is anyone's: only a plain number is taken.
  if (auto* u = qf.attribute("uid");
      u && !u->empty() && u->size() <= 10 && u->find_first_not_of("0123456789") == std::string::npos)
    m.uid = *u;
  if (auto* f = qf.attribute("content_filter")) m.content_filter = *f;
  if (auto* r = qf.attribute("milter_reject")) m.milter_reject = *r;
  for (const auto& r : qf.recipients) {
    m.recipients.push_back({r.address, mail::orcpt_address(r.orcpt), notify_from_queue(r.notify), r.offset,
                            queue::is_final(r.status)});
  }
  return m;
}

Result<std::string> SpoolStore::content(const std::string& q, const std::string& id) {
  auto f = open(q, id);
  if (!f) return f.error();
  if (f->parsed.status != queue::Parse::Complete) return Error(q + "/" + id + ": " + f->parsed.error).set_permanent();
  std::string out(f->parsed.file.content_length, '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(f->fd.get(), out.data() + got, out.size() - got,
                        static_cast<off_t>(f->parsed.file.content_offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno(q + "/" + id + ": read content");
    got += n;
  }
  return out;
}

Result<bool> SpoolStore::is_done(const std::string& q, const std::string& id, uint64_t offset) {
  auto p = path(q, id);
  if (!p) return p.error();
  auto fd = file::open(*p, O_RDONLY);
  if (!fd) return fd.error();
  unsigned char b[2];
  ssize_t n = ::pread(fd->get(), b, 2, static_cast<off_t>(offset + queue::kRecordHeaderSize));
  if (n != 2) return Error::from_errno(*p + ": read status");
  if (!queue::valid_status(b[0]) || static_cast<unsigned char>(~b[1]) != b[0])
    return Error(*p + ": bad status byte").set_permanent();
  return queue::is_final(static_cast<queue::RcptStatus>(b[0]));
}

Status SpoolStore::mark_done(const std::string& q, const std::string& id, uint64_t offset, bool bounced) {
  auto p = path(q, id);
  if (!p) return p.error();
  auto fd = file::open(*p, O_RDWR);
  if (!fd) return fd.error();
  return queue::write_status(fd->get(), offset, bounced ? queue::RcptStatus::Bounced : queue::RcptStatus::Delivered);
}

Status SpoolStore::move(const std::string& id, const std::string& from, const std::string& to) {
  queue::Folder f, t;
  if (!queue::parse_folder(from, &f) || !queue::parse_folder(to, &t)) PANIC("spool store: bad folders %s -> %s", from.c_str(), to.c_str());
  if (!queue::valid_id(id)) return Error(from + "/" + str::printable(id, 60) + ": not a queue id").set_permanent();
  // One rename() and no directory fsync, as Postfix's qmgr: the rename is atomic, so
  // after a crash the file has one name or the other (one inode: its status bytes are
  // shared either way); qmgr scans every folder at start, and what is done is in those
  // status bytes. A move that did not reach the disk is made again, nothing is lost.
  // (Spool::move's two fsyncs cost qmgr's one thread two disk flushes per message on
  // the delivery path.) The queue file itself is durable already.
  std::string src = spool_.path(f, id), dst = spool_.path(t, id);
  if (::rename(src.c_str(), dst.c_str()) != 0) return Error::from_errno("rename " + src + " to " + dst);
  return {};
}

Status SpoolStore::remove(const std::string& q, const std::string& id) {
  auto p = path(q, id);
  if (!p) return p.error();
  // No directory fsync: a removal lost in a crash brings back the file; recipients
  // whose status reached the disk are not delivered again, the others are (a
  // duplicate after an operating-system crash, never a loss: queue::write_status).
  if (::unlink(p->c_str()) != 0) return Error::from_errno("unlink " + *p);
  return {};
}

Status SpoolStore::retire(const std::string& id) {
  if (recycle_limit_ == 0 || !spare_room()) return remove("active", id);
  auto p = path("active", id);
  if (!p) return p.error();
  // No directory fsync, as in remove(): after a crash the file is in active/ again or
  // in spare/, and either way its status bytes say all is done.
  auto r = queue::retire(*p, spool_.path(queue::Folder::Spare, id));
  if (!r) return r.error();
  if (*r == queue::Retired::Recycled) ++spare_count_;
  return {};
}

bool SpoolStore::spare_room() {
  if (spare_count_ < recycle_limit_) return true;
  int64_t now = file::now_us();
  if (now < next_count_us_) return false;
  next_count_us_ = now + kSpareRecount_us;
  auto n = queue::count_spare(spool_.dir(queue::Folder::Spare));
  spare_count_ = n ? *n : SIZE_MAX;  // no spare/ (a spool made before it): unlink
  return spare_count_ < recycle_limit_;
}

Result<std::string> SpoolStore::inject(const NewMessage& m) {
  auto w = queue::QueueWriter::create(spool_.dir(queue::Folder::Incoming), queue::system_ops(),
                                      m.arrival ? m.arrival * 1000000 : 0, recycle_limit_ ? &spares_ : nullptr);
  if (!w) return w.error();
  auto& qw = **w;
  if (Status s = qw.sender(m.sender); !s) return s.error();
  if (!m.envid.empty())
    if (Status s = qw.attribute("envid", m.envid); !s) return s.error();
  if (m.ret != mail::Ret::Default)
    if (Status s = qw.attribute("ret", m.ret == mail::Ret::Full ? "FULL" : "HDRS"); !s) return s.error();
  if (!m.content_filter.empty())
    if (Status s = qw.attribute("content_filter", m.content_filter); !s) return s.error();
  if (!m.milter_reject.empty())
    if (Status s = qw.attribute("milter_reject", m.milter_reject); !s) return s.error();
  for (const auto& r : m.recipients) {
    std::string orcpt = r.orcpt.empty() ? "" : "rfc822;" + r.orcpt;
    if (Status s = qw.recipient(r.address, orcpt, notify_to_queue(r.notify)); !s) return s.error();
  }
  if (Status s = qw.append_content(m.content); !s) return s.error();
  return qw.commit();
}

Result<int64_t> SpoolStore::next_try(const std::string& id) {
  auto f = open("deferred", id);
  if (!f) return f.error();
  if (f->parsed.status != queue::Parse::Complete) return Error(f->parsed.error).set_permanent();
  return f->parsed.file.retry.next_try_us / 1000000;
}

Status SpoolStore::set_next_try(const std::string& id, int64_t when) {
  auto f = open("deferred", id, true);
  if (!f) return f.error();
  if (f->parsed.status != queue::Parse::Complete) return Error(f->parsed.error).set_permanent();
  queue::RetryState r = f->parsed.file.retry;
  r.attempts += 1;
  r.next_try_us = when * 1000000;
  return queue::update_retry(f->fd.get(), f->parsed.file.retry_offset, r);
}

DeferInfo SpoolStore::defer_info(const std::string& id) {
  DeferInfo info;
  if (!queue::valid_id(id)) return info;
  auto text = file::read_file(spool_.path(queue::Folder::Defer, id), 1 << 20);
  if (!text) return info;
  for (const auto& line : str::split_exact(*text, '\n')) {
    if (line == "warned") info.warned = true;
    size_t tab = line.find('\t');
    if (tab != std::string::npos) info.reasons[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return info;
}

Status SpoolStore::set_defer_info(const std::string& id, const DeferInfo& info) {
  if (!queue::valid_id(id)) return Error("bad queue id").set_permanent();
  std::string text = info.warned ? "warned\n" : "";
  for (const auto& [rcpt, reason] : info.reasons) {
    // One line per recipient: no tab or line break inside the fields.
    std::string r = rcpt, why = reason;
    for (char& c : r) if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    for (char& c : why) if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    text += r + "\t" + why + "\n";
  }
  return file::write_file_atomic(spool_.path(queue::Folder::Defer, id), text, 0600);
}

void SpoolStore::drop_defer_info(const std::string& id) {
  if (!queue::valid_id(id)) return;
  ::unlink(spool_.path(queue::Folder::Defer, id).c_str());
}

}  // namespace postilion::queue
