// lib/queue/queue_file_test.cc - queue file round trips, truncation, corruption at
// every offset, oversized records, in-place status and retry updates.
#include "lib/queue/queue_file.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/queue/queue_writer.h"
#include "lib/queue/test_util.h"
#include "lib/testing/temp_dir.h"

// Parse is an enum class: let CppUnit print it.
namespace CppUnit {
template <>
struct assertion_traits<postilion::queue::Parse> {
  static bool equal(postilion::queue::Parse a, postilion::queue::Parse b) { return a == b; }
  static std::string toString(postilion::queue::Parse p) {
    return p == postilion::queue::Parse::Complete ? "Complete"
           : p == postilion::queue::Parse::Incomplete ? "Incomplete" : "Bad";
  }
};
}  // namespace CppUnit

namespace postilion::queue {
namespace {

struct Sample {
  std::string sender;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<Recipient> rcpts;
  std::vector<std::string> chunks;
};

std::string joined(const std::vector<std::string>& chunks) {
  std::string s;
  for (auto& c : chunks) s += c;
  return s;
}

// Writes s with QueueWriter; returns the committed file's path.
std::string write_sample(const std::string& dir, const Sample& s, int64_t arrival = 1700000000123456) {
  auto w = QueueWriter::create(dir, system_ops(), arrival);
  CPPUNIT_ASSERT(w.ok());
  CPPUNIT_ASSERT((*w)->sender(s.sender).ok());
  for (auto& [n, v] : s.attrs) CPPUNIT_ASSERT((*w)->attribute(n, v).ok());
  for (auto& r : s.rcpts) CPPUNIT_ASSERT((*w)->recipient(r.address, r.orcpt, r.notify).ok());
  for (auto& c : s.chunks) CPPUNIT_ASSERT((*w)->append_content(c).ok());
  auto id = (*w)->commit();
  CPPUNIT_ASSERT_MESSAGE(id.ok() ? "" : id.error().str(), id.ok());
  return file::join(dir, *id);
}

Sample small_sample() {
  return Sample{"s@example.org",
                {{"client_address", "192.0.2.7"}, {"helo", "mx.example"}, {"body", "8BITMIME"}},
                {{"a@example.org", "rfc822;a@example.org", kNotifyFailure | kNotifyDelay},
                 {"b@example.net", "", 0}},
                {"Subject: hi\r\n\r\n", "body\r\n"}};
}

std::string good_bytes(const Sample& s) {
  postilion::testing::TempDir tmp;
  auto data = file::read_file(write_sample(tmp.path(), s));
  CPPUNIT_ASSERT(data.ok());
  return *data;
}

std::string pread_str(int fd, uint64_t off, uint64_t len) {
  std::string s(len, '\0');
  CPPUNIT_ASSERT_EQUAL(static_cast<ssize_t>(len), ::pread(fd, s.data(), len, static_cast<off_t>(off)));
  return s;
}

}  // namespace

class QueueFileTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(QueueFileTest);
  CPPUNIT_TEST(round_trip_table);
  CPPUNIT_TEST(every_prefix_incomplete);
  CPPUNIT_TEST(corruption_at_every_offset);
  CPPUNIT_TEST(hostile_files);
  CPPUNIT_TEST(writer_refuses_bad_input);
  CPPUNIT_TEST(status_update_in_place);
  CPPUNIT_TEST(retry_update_in_place);
  CPPUNIT_TEST(crc32_known_vectors);
  CPPUNIT_TEST(crc32_matches_bitwise_reference);
  CPPUNIT_TEST(read_through_window);
  CPPUNIT_TEST_SUITE_END();

 public:
  void round_trip_table() {
    std::string big(300000, 'x');
    for (size_t i = 0; i < big.size(); i += 77) big[i] = '\n';
    std::vector<std::string> many_chunks;
    for (size_t i = 0; i < big.size(); i += 1000) many_chunks.push_back(big.substr(i, 1000));
    std::vector<Recipient> many_rcpts;
    for (int i = 0; i < 500; ++i) many_rcpts.push_back({"r" + std::to_string(i) + "@example.org", "", 0});
    Sample rows[] = {
        small_sample(),
        {"", {}, {{"postmaster@example.org", "", kNotifyNever}}, {}},  // null sender, empty message
        {"s@x", {{"envid", "abc"}, {"ret", "HDRS"}}, {{"a@x", "", 0}}, many_chunks},
        {"s@x", {}, {{"a@x", "", 0}}, {big}},  // one big chunk, written without the buffer
        {"s@x", {{"smtputf8", "1"}}, many_rcpts, {std::string(1, '\0') + "binary\xff"}},
    };
    postilion::testing::TempDir tmp;
    for (const Sample& s : rows) {
      std::string path = write_sample(tmp.path(), s);
      auto opened = read_queue_file(path);
      CPPUNIT_ASSERT(opened.ok());
      const ParseResult& r = opened->parsed;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.error, Parse::Complete, r.status);
      const QueueFile& f = r.file;
      CPPUNIT_ASSERT_EQUAL(int64_t{1700000000123456}, f.arrival_us);
      CPPUNIT_ASSERT_EQUAL(s.sender, f.sender);
      CPPUNIT_ASSERT(s.attrs == f.attributes);
      CPPUNIT_ASSERT_EQUAL(s.rcpts.size(), f.recipients.size());
      for (size_t i = 0; i < s.rcpts.size(); ++i) {
        CPPUNIT_ASSERT_EQUAL(s.rcpts[i].address, f.recipients[i].address);
        CPPUNIT_ASSERT_EQUAL(s.rcpts[i].orcpt, f.recipients[i].orcpt);
        CPPUNIT_ASSERT_EQUAL(int{s.rcpts[i].notify}, int{f.recipients[i].notify});
        CPPUNIT_ASSERT(f.recipients[i].status == RcptStatus::Pending);
      }
      std::string content = joined(s.chunks);
      CPPUNIT_ASSERT_EQUAL(uint64_t{content.size()}, f.content_length);
      CPPUNIT_ASSERT(content == pread_str(opened->fd.get(), f.content_offset, f.content_length));
      std::string streamed;
      size_t pieces = 0;
      CPPUNIT_ASSERT(stream_content(opened->fd.get(), f, [&](std::string_view piece) {
                       streamed += piece;
                       ++pieces;
                       return piece.size() <= 65536 ? Status{} : Status(Error("piece too big"));
                     }).ok());
      CPPUNIT_ASSERT(content == streamed);
      CPPUNIT_ASSERT_EQUAL((content.size() + 65535) / 65536, pieces);
      // A sink error stops the stream and is returned.
      if (!content.empty())
        CPPUNIT_ASSERT_EQUAL(std::string("sink full"),
                             stream_content(opened->fd.get(), f, [](std::string_view) {
                               return Status(Error("sink full"));
                             }).error().str());
      CPPUNIT_ASSERT_EQUAL(uint64_t{0}, uint64_t{f.retry.attempts});
      // The same bytes parse the same from memory.
      auto data = file::read_file(path);
      CPPUNIT_ASSERT(parse_queue_file(*data).status == Parse::Complete);
    }
    std::string good = good_bytes(small_sample());
    auto r = parse_queue_file(good);
    CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.7"), *r.file.attribute("client_address"));
    CPPUNIT_ASSERT(r.file.attribute("nope") == nullptr);
  }

  void every_prefix_incomplete() {
    std::string good = good_bytes(small_sample());
    CPPUNIT_ASSERT(parse_queue_file(good).status == Parse::Complete);
    for (size_t n = 0; n < good.size(); ++n) {
      ParseResult r = parse_queue_file(std::string_view(good).substr(0, n));
      CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(n) + ": " + r.error, Parse::Incomplete, r.status);
      CPPUNIT_ASSERT(!r.error.empty());
    }
    CPPUNIT_ASSERT_EQUAL(std::string("missing END"),
                         parse_queue_file(std::string_view(good).substr(0, good.size() - 5)).error);
  }

  void corruption_at_every_offset() {
    std::string good = good_bytes(small_sample());
    const int kPatterns = 5;
    for (size_t i = 0; i < good.size(); ++i) {
      for (int p = 0; p < kPatterns; ++p) {
        std::string bad = good;
        unsigned char c = static_cast<unsigned char>(bad[i]);
        switch (p) {
          case 0: c ^= 0xff; break;
          case 1: c ^= 0x01; break;
          case 2: c = c ? 0 : 1; break;
          case 3: c = c == 'E' ? 'K' : 'E'; break;
          case 4: c = static_cast<unsigned char>(c + 0x10); break;
        }
        bad[i] = static_cast<char>(c);
        ParseResult r = parse_queue_file(bad);
        CPPUNIT_ASSERT_MESSAGE("offset " + std::to_string(i) + " pattern " + std::to_string(p),
                               r.status != Parse::Complete);
        CPPUNIT_ASSERT(!r.error.empty());
      }
    }
    // Extra bytes after END, and a doubled file.
    CPPUNIT_ASSERT(parse_queue_file(good + "x").status == Parse::Bad);
    CPPUNIT_ASSERT(parse_queue_file(good + good).status == Parse::Bad);
  }

  void hostile_files() {
    std::string good = good_bytes(small_sample());
    size_t first_record = kHeaderSize;
    struct Row {
      std::string data;
      Parse want;
      std::string error;
    } rows[] = {
        {"", Parse::Incomplete, "truncated header"},
        {"PST", Parse::Incomplete, "truncated header"},
        {"From xyz", Parse::Bad, "not a queue file (bad magic)"},
        {std::string("PSTQ\0\2", 6), Parse::Bad, "unsupported queue file version 2"},
        {good.substr(0, first_record) + "\x7f" + good.substr(first_record + 1), Parse::Bad,
         "bad record type 0x7f at offset 6"},
        {good.substr(0, first_record) + std::string("T\x01\0\0\0", 5), Parse::Bad,
         "oversized record 'T' (16777216 bytes) at offset 6"},
        {good.substr(0, first_record) + std::string("E\0\0\0\0", 5), Parse::Bad,
         "unexpected record type 'E' at offset 6"},
    };
    for (const Row& r : rows) {
      ParseResult p = parse_queue_file(r.data);
      CPPUNIT_ASSERT_EQUAL(r.error, p.error);
      CPPUNIT_ASSERT(r.want == p.status);
    }
    // An oversized sender record (claims 1 MiB) is rejected before reading it.
    ParseResult r = parse_queue_file(good.substr(0, 6 + 13 + 21) + std::string("S\0\x10\0\0", 5));
    CPPUNIT_ASSERT_EQUAL(Parse::Bad, r.status);
    CPPUNIT_ASSERT_EQUAL(std::string("oversized record 'S' (1048576 bytes) at offset 40"), r.error);
  }

  void writer_refuses_bad_input() {
    postilion::testing::TempDir tmp;
    auto w = QueueWriter::create(tmp.path());
    CPPUNIT_ASSERT(w.ok());
    QueueWriter& q = **w;
    CPPUNIT_ASSERT(!q.sender("a@b\r\nRCPT TO:<x>").ok());
    CPPUNIT_ASSERT(!q.sender("a@b\r\nRCPT TO:<x>").error().temporary());
    CPPUNIT_ASSERT(!q.sender(std::string(kMaxAddress + 1, 'a')).ok());
    CPPUNIT_ASSERT(q.sender("ok@b").ok());
    CPPUNIT_ASSERT(!q.sender("again@b").ok());
    CPPUNIT_ASSERT(!q.attribute("Bad-Name", "x").ok());
    CPPUNIT_ASSERT(!q.attribute("", "x").ok());
    CPPUNIT_ASSERT(!q.attribute("helo", std::string(kMaxAttribute, 'h')).ok());
    CPPUNIT_ASSERT(!q.attribute("helo", std::string("a\0b", 3)).ok());
    CPPUNIT_ASSERT(!q.append_content("no recipients yet").ok());
    CPPUNIT_ASSERT(!q.recipient("").ok());
    CPPUNIT_ASSERT(!q.recipient("a@b", "", 0x10).ok());
    CPPUNIT_ASSERT(q.recipient("a@b").ok());
    CPPUNIT_ASSERT(q.append_content("hello").ok());
    CPPUNIT_ASSERT(!q.recipient("late@b").ok());
    CPPUNIT_ASSERT(!q.attribute("late", "x").ok());
    auto id = q.commit();
    CPPUNIT_ASSERT(id.ok());
    auto f = read_queue_file(file::join(tmp.path(), *id));
    CPPUNIT_ASSERT(f->parsed.status == Parse::Complete);
    CPPUNIT_ASSERT_EQUAL(std::string("ok@b"), f->parsed.file.sender);
    CPPUNIT_ASSERT_EQUAL(size_t{1}, f->parsed.file.recipients.size());
  }

  void status_update_in_place() {
    postilion::testing::TempDir tmp;
    std::string path = write_sample(tmp.path(), small_sample());
    struct Row {
      size_t rcpt;
      RcptStatus status;
    } rows[] = {{0, RcptStatus::Deferred}, {1, RcptStatus::Delivered}, {0, RcptStatus::Bounced}};
    for (const Row& row : rows) {
      auto f = read_queue_file(path, true);
      CPPUNIT_ASSERT(f.ok() && f->parsed.status == Parse::Complete);
      uint64_t off = f->parsed.file.recipients[row.rcpt].offset;
      CPPUNIT_ASSERT(write_status(f->fd.get(), off, row.status).ok());
      auto again = read_queue_file(path);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(again->parsed.error, Parse::Complete, again->parsed.status);
      CPPUNIT_ASSERT(again->parsed.file.recipients[row.rcpt].status == row.status);
    }
    auto f = read_queue_file(path);
    CPPUNIT_ASSERT(f->parsed.file.recipients[0].status == RcptStatus::Bounced);
    CPPUNIT_ASSERT(f->parsed.file.recipients[1].status == RcptStatus::Delivered);
    // A wrong offset is refused and changes nothing.
    auto rw = read_queue_file(path, true);
    auto before = file::read_file(path);
    CPPUNIT_ASSERT(!write_status(rw->fd.get(), rw->parsed.file.recipients[0].offset + 1, RcptStatus::Pending).ok());
    CPPUNIT_ASSERT(!write_status(rw->fd.get(), 0, RcptStatus::Pending).ok());
    CPPUNIT_ASSERT(!write_status(rw->fd.get(), 1u << 30, RcptStatus::Pending).ok());
    CPPUNIT_ASSERT(*before == *file::read_file(path));
    // The update goes through the seam: one pwrite each, no fsync (queue_file.h says
    // why); a refused offset writes nothing; a failed pwrite is an error.
    testing::FaultyOps ops;
    CPPUNIT_ASSERT(write_status(rw->fd.get(), rw->parsed.file.recipients[0].offset, RcptStatus::Delivered, ops).ok());
    CPPUNIT_ASSERT(write_status(rw->fd.get(), rw->parsed.file.recipients[1].offset, RcptStatus::Bounced, ops).ok());
    CPPUNIT_ASSERT(!write_status(rw->fd.get(), 0, RcptStatus::Bounced, ops).ok());
    CPPUNIT_ASSERT((ops.log == std::vector<std::string>{"pwrite", "pwrite"}));
    testing::FaultyOps failing;
    failing.mode = testing::FaultyOps::Mode::FailOnce;
    failing.fail_step = 0;
    CPPUNIT_ASSERT(!write_status(rw->fd.get(), rw->parsed.file.recipients[0].offset, RcptStatus::Pending, failing).ok());
    auto after = read_queue_file(path);
    CPPUNIT_ASSERT(after->parsed.file.recipients[0].status == RcptStatus::Delivered);
    CPPUNIT_ASSERT(after->parsed.file.recipients[1].status == RcptStatus::Bounced);
  }

  void retry_update_in_place() {
    postilion::testing::TempDir tmp;
    std::string path = write_sample(tmp.path(), small_sample());
    auto f = read_queue_file(path, true);
    RetryState rs{7, 1800000000000000};
    CPPUNIT_ASSERT(update_retry(f->fd.get(), f->parsed.file.retry_offset, rs).ok());
    CPPUNIT_ASSERT(!update_retry(f->fd.get(), f->parsed.file.retry_offset + 1, rs).ok());
    auto again = read_queue_file(path);
    CPPUNIT_ASSERT_EQUAL(Parse::Complete, again->parsed.status);
    CPPUNIT_ASSERT_EQUAL(uint32_t{7}, again->parsed.file.retry.attempts);
    CPPUNIT_ASSERT_EQUAL(int64_t{1800000000000000}, again->parsed.file.retry.next_try_us);
  }

  void crc32_known_vectors() {
    struct Row {
      std::string data;
      uint32_t crc;
    } rows[] = {
        {"", 0},
        {"a", 0xe8b7be43u},
        {"abc", 0x352441c2u},
        {"123456789", 0xcbf43926u},
        {"The quick brown fox jumps over the lazy dog", 0x414fa339u},
        {std::string(32, '\0'), 0x190a55adu},
        {std::string(32, '\xff'), 0xff6cab0bu},
    };
    for (const Row& row : rows) {
      CPPUNIT_ASSERT_EQUAL_MESSAGE(row.data, row.crc, crc32_update(0, row.data));
      // Incremental: any split gives the same value.
      for (size_t cut = 0; cut <= row.data.size(); ++cut)
        CPPUNIT_ASSERT_EQUAL(row.crc, crc32_update(crc32_update(0, row.data.substr(0, cut)), row.data.substr(cut)));
    }
  }

  // The bit-at-a-time definition the queue file format was written with.
  static uint32_t crc32_bitwise(uint32_t crc, std::string_view data) {
    uint32_t c = crc ^ 0xffffffffu;
    for (unsigned char b : data) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
  }

  void crc32_matches_bitwise_reference() {
    uint64_t x = 0x9e3779b97f4a7c15ull;  // fixed seed: a failure can be repeated
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    std::string buf(70000, '\0');
    for (char& c : buf) c = static_cast<char>(next());
    for (int i = 0; i < 300; ++i) {
      size_t off = next() % buf.size();
      size_t len = next() % std::min<size_t>(buf.size() - off + 1, i < 290 ? 100 : 70000);
      std::string_view piece = std::string_view(buf).substr(off, len);  // unaligned starts too
      uint32_t seed = i % 2 ? static_cast<uint32_t>(next()) : 0;
      CPPUNIT_ASSERT_EQUAL(crc32_bitwise(seed, piece), crc32_update(seed, piece));
    }
  }

  void read_through_window() {
    // A file of many records is still parsed right when read through the window
    // (records straddling its edge, content larger than it).
    postilion::testing::TempDir tmp;
    std::string big(300000, 'y');
    for (size_t i = 0; i < big.size(); i += 61) big[i] = '\n';
    std::vector<Recipient> rcpts;
    for (int i = 0; i < 3000; ++i) rcpts.push_back({"rcpt" + std::to_string(i) + "@example.org", "", 0});
    Sample s{"s@example.org", {{"helo", "h"}}, rcpts, {big}};
    std::string path = write_sample(tmp.path(), s);
    auto f = read_queue_file(path);
    CPPUNIT_ASSERT(f.ok());
    CPPUNIT_ASSERT_EQUAL_MESSAGE(f->parsed.error, Parse::Complete, f->parsed.status);
    CPPUNIT_ASSERT_EQUAL(size_t{3000}, f->parsed.file.recipients.size());
    CPPUNIT_ASSERT_EQUAL(std::string("rcpt2999@example.org"), f->parsed.file.recipients[2999].address);
    CPPUNIT_ASSERT_EQUAL(uint64_t{big.size()}, f->parsed.file.content_length);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueueFileTest);

}  // namespace postilion::queue

