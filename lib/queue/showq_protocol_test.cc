// lib/queue/showq_protocol_test.cc - the public/showq protocol: the request check (only
// a lone cmd=list or cmd=flush), listing frames, and the client's reader with hostile
// replies. The server and the client calls over a socket are tested in showq/.
#include "lib/queue/showq_protocol.h"

#include <cppunit/extensions/HelperMacros.h>

#include <optional>
#include <vector>

#include "lib/ipc/protocols.h"

using namespace postilion;
using queue::ListingReader;
using queue::ShowqRequest;

namespace {

ipc::Message msg(std::vector<std::pair<std::string, std::string>> attrs) {
  ipc::Message m;
  for (auto& [n, v] : attrs) m.set(n, v);
  return m;
}

}  // namespace

class ShowqProtocolTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ShowqProtocolTest);
  CPPUNIT_TEST(request_check);
  CPPUNIT_TEST(listing_frames_round_trip);
  CPPUNIT_TEST(reader_refuses_bad_replies);
  CPPUNIT_TEST_SUITE_END();

 public:
  void request_check() {
    struct Row {
      std::vector<std::pair<std::string, std::string>> attrs;
      std::optional<ShowqRequest> want;
    } rows[] = {
        {{{"cmd", "list"}}, ShowqRequest::List},
        {{{"cmd", "flush"}}, ShowqRequest::Flush},
        {{{"cmd", "LIST"}}, std::nullopt},
        {{{"cmd", "list "}}, std::nullopt},
        {{{"cmd", std::string("list\0", 5)}}, std::nullopt},
        {{{"cmd", "wakeup"}}, std::nullopt},
        {{{"cmd", "delete"}}, std::nullopt},
        {{{"cmd", ""}}, std::nullopt},
        {{}, std::nullopt},
        {{{"command", "list"}}, std::nullopt},
        {{{"cmd", "list"}, {"cmd", "flush"}}, std::nullopt},
        {{{"cmd", "flush"}, {"id", "ALL"}}, std::nullopt},
        {{{"queue", "deferred"}, {"cmd", "list"}}, std::nullopt},
        {{{"cmd", std::string(5000, 'x')}}, std::nullopt},
    };
    for (const Row& r : rows) {
      auto got = queue::parse_showq_request(msg(r.attrs));
      CPPUNIT_ASSERT_EQUAL(r.want.has_value(), got.ok());
      if (got) CPPUNIT_ASSERT(*got == *r.want);
      else CPPUNIT_ASSERT(!got.error().empty() && got.error().size() < 200);  // a long cmd is not echoed back whole
    }
  }

  void listing_frames_round_trip() {
    const size_t chunk = ipc::proto::kShowqChunk;
    for (size_t size : {size_t{0}, size_t{1}, chunk - 1, chunk, chunk + 1, 3 * chunk + 17}) {
      std::string text;
      for (size_t i = 0; i < size; ++i) text += static_cast<char>('a' + i % 26);
      auto frames = queue::showq_listing_reply(text);
      CPPUNIT_ASSERT_EQUAL((size + chunk - 1) / chunk + 1, frames.size());
      ListingReader reader;
      for (size_t i = 0; i + 1 < frames.size(); ++i) {
        CPPUNIT_ASSERT_EQUAL(std::string("part"), frames[i].get_or("status", ""));
        CPPUNIT_ASSERT(reader.take(frames[i]) == ListingReader::Step::More);
      }
      CPPUNIT_ASSERT(reader.take(frames.back()) == ListingReader::Step::Done);
      CPPUNIT_ASSERT(text == reader.text());
      // Through the wire format too: every frame fits what the client accepts.
      for (const auto& f : frames) CPPUNIT_ASSERT(f.encode().size() <= chunk + 1024);
    }
  }

  void reader_refuses_bad_replies() {
    struct Row {
      std::vector<std::pair<std::string, std::string>> attrs;
      std::string error;  // expected text of the failure
    } rows[] = {
        {{{"status", "error"}, {"text", "cannot list the queue: denied"}}, "cannot list the queue: denied"},
        {{{"status", "error"}}, "showq failed"},
        {{{"status", "error"}, {"text", "a\nb\x1b[2J"}}, "a\\012b\\033[2J"},
        {{{"status", "part"}}, "bad reply from showq"},
        {{{"status", "part"}, {"text", std::string(ipc::proto::kShowqChunk + 1, 'x')}}, "bad reply from showq"},
        {{{"status", "bogus"}, {"text", "x"}}, "bad reply from showq"},
        {{{"text", "x"}}, "bad reply from showq"},
        {{}, "bad reply from showq"},
    };
    for (const Row& r : rows) {
      ListingReader reader;
      CPPUNIT_ASSERT(reader.take(msg({{"status", "part"}, {"text", "first "}})) == ListingReader::Step::More);
      CPPUNIT_ASSERT(reader.take(msg(r.attrs)) == ListingReader::Step::Failed);
      CPPUNIT_ASSERT_EQUAL(r.error, reader.error());
      // Once failed, it stays failed.
      CPPUNIT_ASSERT(reader.take(msg({{"status", "ok"}})) == ListingReader::Step::Failed);
    }
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ShowqProtocolTest);
