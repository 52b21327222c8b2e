// lib/milter/session_test.cc - the milter client's state machine against a scripted filter
// (a thread on a Unix socket speaking the wire format by hand): what is sent per
// negotiated protocol step, the macros, every verdict, the edits at the end of the
// message, and filters that time out, send garbage, ask for what was not offered or
// cannot be reached, each costing what milter_default_action says.
#include "lib/milter/session.h"

#include <cppunit/extensions/HelperMacros.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "lib/base/strings.h"
#include "lib/event/event.h"
#include "lib/testing/temp_dir.h"

using namespace postilion;
using namespace postilion::milter;

#define BIN(s) std::string(s, sizeof(s) - 1)

namespace {

std::string u32(uint32_t v) {
  std::string s;
  for (int shift : {24, 16, 8, 0}) s += static_cast<char>((v >> shift) & 0xff);
  return s;
}
std::string pk(char code, std::string_view data = {}) {
  return u32(static_cast<uint32_t>(data.size() + 1)) + code + std::string(data);
}
std::string optneg_reply(uint32_t actions, uint32_t protocol, std::string extra = "") {
  return pk('O', u32(6) + u32(actions) + u32(protocol) + extra);
}

// A filter on a Unix socket, one connection: answers each packet with what respond()
// returns (raw bytes; "" = no answer). Records every packet it got.
class FakeFilter {
 public:
  using Respond = std::function<std::string(const Packet&)>;
  FakeFilter(const std::string& path, Respond respond) : path_(path), respond_(std::move(respond)) {
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || ::listen(listen_, 4) != 0) std::abort();
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeFilter() {
    ::shutdown(listen_, SHUT_RDWR);
    stop_ = true;
    if (conn_ >= 0) ::shutdown(conn_, SHUT_RDWR);
    thread_.join();
    ::close(listen_);
  }
  std::vector<Packet> got() {
    std::lock_guard<std::mutex> l(mu_);
    return got_;
  }
  std::string codes() {
    std::string s;
    for (const auto& p : got()) s += p.code;
    return s;
  }
  std::string spec() const { return "unix:" + path_; }

 private:
  void serve() {
    int c = ::accept(listen_, nullptr, nullptr);
    if (c < 0) return;
    conn_ = c;
    std::string buf;
    char tmp[65536];
    while (!stop_) {
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
      while (buf.size() >= 5) {
        uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(buf[0])) << 24) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(buf[1])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(buf[2])) << 8) |
                       static_cast<unsigned char>(buf[3]);
        if (buf.size() < 4 + len) break;
        Packet p{buf[4], buf.substr(5, len - 1)};
        buf.erase(0, 4 + len);
        {
          std::lock_guard<std::mutex> l(mu_);
          got_.push_back(p);
        }
        std::string out = respond_(p);
        if (!out.empty() && ::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
      }
    }
    ::close(c);
    conn_ = -1;
  }

  std::string path_;
  Respond respond_;
  int listen_ = -1;
  std::atomic<int> conn_{-1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Packet> got_;
};

// Answers every command that wants an answer with continue.
std::string cont(const Packet& p) {
  if (p.code == 'O') return optneg_reply(0x1ff, 0);
  if (p.code == 'D' || p.code == 'A' || p.code == 'Q' || p.code == 'K') return "";
  return pk('c');
}

MilterConfig config(const std::string& spec, const std::string& action = "tempfail") {
  MilterConfig c;
  c.filters = {spec};
  c.default_action = action;
  c.connect_timeout_ms = 2000;
  c.command_timeout_ms = 2000;
  c.content_timeout_ms = 300;
  c.macros[0] = {"j", "{client_addr}"};
  c.macros[2] = {"i", "{mail_addr}"};
  c.macros[3] = {"{rcpt_addr}"};
  return c;
}

std::optional<std::string> test_macros(std::string_view n) {
  if (n == "j") return std::string("mx.ours.test");
  if (n == "client_addr") return std::string("192.0.2.7");
  if (n == "mail_addr") return std::string("s@client.test");
  if (n == "rcpt_addr") return std::string("r@ours.test");
  return std::nullopt;  // "i": not known yet
}

// Runs one stage on the loop until its Done: the verdict.
MilterVerdict stage(event::EventBase& base, const std::function<void(MilterSession::Done)>& start) {
  bool done = false;
  MilterVerdict out;
  start([&](const MilterVerdict& v) {
    out = v;
    done = true;
  });
  for (int i = 0; !done && i < 2000; ++i) base.loop_once();
  if (!done) CPPUNIT_FAIL("stage did not end");
  return out;
}

// A message in a file, as the prepared queue file holds it.
struct MessageFile {
  testing::TempDir dir;
  int fd = -1;
  MilterMessage msg;
  explicit MessageFile(const std::string& content) {
    fd = ::open(dir.file("m").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    std::string prefix = "ENVELOPE";
    if (::write(fd, (prefix + content).data(), prefix.size() + content.size()) < 0) std::abort();
    msg.fd = fd;
    msg.offset = prefix.size();
    msg.length = content.size();
    std::string why;
    if (!msg.load(&why)) std::abort();
  }
  ~MessageFile() { ::close(fd); }
};

const char* kMessage = "Received: by us\r\nSubject: hi\r\nX-Old: 1\r\n\r\nbody line\r\n";

}  // namespace

class MilterTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(MilterTest);
  CPPUNIT_TEST(whole_session);
  CPPUNIT_TEST(protocol_steps_left_out);
  CPPUNIT_TEST(edits_at_end_of_message);
  CPPUNIT_TEST(own_reply_and_recipient_reject);
  CPPUNIT_TEST(skip_and_accept);
  CPPUNIT_TEST(timeout_costs_default_action);
  CPPUNIT_TEST(garbage_costs_default_action);
  CPPUNIT_TEST(unreachable_with_accept);
  CPPUNIT_TEST(not_negotiated);
  CPPUNIT_TEST(older_protocol_version);
  CPPUNIT_TEST(edited_content);
  CPPUNIT_TEST(milter_list_values);
  CPPUNIT_TEST(milter_list_bad_values);
  CPPUNIT_TEST_SUITE_END();

 public:
  void whole_session() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), cont);
    event::EventBase base;
    MessageFile m(kMessage);
    {
      MilterSession s(base, config(f.spec()), test_macros);
      CPPUNIT_ASSERT(stage(base, [&](auto d) { s.connect("client.test", '4', 2525, "192.0.2.7", d); }).kind ==
                     MilterVerdict::Kind::Continue);
      CPPUNIT_ASSERT(stage(base, [&](auto d) { s.helo("client.test", d); }).kind == MilterVerdict::Kind::Continue);
      CPPUNIT_ASSERT(stage(base, [&](auto d) { s.mail({"<s@client.test>", "SIZE=10"}, d); }).kind ==
                     MilterVerdict::Kind::Continue);
      CPPUNIT_ASSERT(stage(base, [&](auto d) { s.rcpt({"<r@ours.test>"}, d); }).kind == MilterVerdict::Kind::Continue);
      CPPUNIT_ASSERT(stage(base, [&](auto d) { s.data(d); }).kind == MilterVerdict::Kind::Continue);
      auto v = stage(base, [&](auto d) { s.message(&m.msg, d); });
      CPPUNIT_ASSERT(v.kind == MilterVerdict::Kind::Continue);
      CPPUNIT_ASSERT(!m.msg.changed());
      s.quit();
      for (int i = 0; i < 50 && f.codes().find('Q') == std::string::npos; ++i) base.loop_once(true), usleep(2000);
    }
    // Negotiation, macros before connect, connect, HELO, macros and MAIL, macros and RCPT,
    // DATA, three header fields, end of header, body, end of message, quit.
    CPPUNIT_ASSERT_EQUAL(std::string("ODCHDMDRTLLLNBEQ"), f.codes());
    auto got = f.got();
    CPPUNIT_ASSERT_EQUAL(BIN("Cj\0mx.ours.test\0{client_addr}\0" "192.0.2.7\0"), got[1].data);
    CPPUNIT_ASSERT_EQUAL(BIN("client.test\0" "4\x09\xdd" "192.0.2.7\0"), got[2].data);
    CPPUNIT_ASSERT_EQUAL(BIN("M{mail_addr}\0s@client.test\0"), got[4].data);  // no "i" yet
    CPPUNIT_ASSERT_EQUAL(BIN("<s@client.test>\0SIZE=10\0"), got[5].data);
    CPPUNIT_ASSERT_EQUAL(BIN("Subject\0hi\0"), got[10].data);
    CPPUNIT_ASSERT_EQUAL(std::string("body line\r\n"), got[13].data);
  }

  void protocol_steps_left_out() {
    testing::TempDir tmp;
    // No connect, HELO, header fields, end of header; no reply to RCPT or body chunks.
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'O')
        return optneg_reply(0, milter::kNoConnect | milter::kNoHelo | milter::kNoHdrs | milter::kNoEoh |
                                   milter::kNrRcpt | milter::kNrBody);
      if (p.code == 'R' || p.code == 'B' || p.code == 'D' || p.code == 'A' || p.code == 'Q') return "";
      return pk('c');
    });
    event::EventBase base;
    MessageFile m(kMessage);
    MilterSession s(base, config(f.spec()), test_macros);
    stage(base, [&](auto d) { s.connect("client.test", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.helo("client.test", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    stage(base, [&](auto d) { s.rcpt({"<r@ours.test>"}, d); });
    stage(base, [&](auto d) { s.data(d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.message(&m.msg, d); }).kind == MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT_EQUAL(std::string("ODMDRTBE"), f.codes());
  }

  void edits_at_end_of_message() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code != 'E') return cont(p);
      return pk('h', std::string("X-Added\0yes\0", 12)) + pk('i', u32(0) + std::string("X-Top\0t\0", 8)) +
             pk('m', u32(1) + std::string("X-Old\0\0", 7)) + pk('m', u32(1) + std::string("Subject\0new\0", 12)) +
             pk('b', "new body\n") + pk('b', "more\r\n") + pk('e', std::string("<n@x.test>\0", 11)) +
             pk('+', std::string("<add@x.test>\0", 13)) + pk('2', std::string("<par@x.test>\0NOTIFY=NEVER\0", 26)) +
             pk('-', std::string("<r@ours.test>\0", 14)) + pk('q', std::string("held\0", 5)) + pk('p') + pk('a');
    });
    event::EventBase base;
    MessageFile m(kMessage);
    MilterSession s(base, config(f.spec()), test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    auto v = stage(base, [&](auto d) { s.message(&m.msg, d); });
    CPPUNIT_ASSERT(v.kind == MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT(m.msg.changed());
    CPPUNIT_ASSERT_EQUAL(std::string("X-Top: t\r\nReceived: by us\r\nSubject: new\r\nX-Added: yes\r\n"), m.msg.headers.text());
    CPPUNIT_ASSERT_EQUAL(std::string("new body\r\nmore\r\n"), *m.msg.body);
    CPPUNIT_ASSERT_EQUAL(std::string("n@x.test"), *m.msg.sender);
    CPPUNIT_ASSERT((m.msg.added_rcpts == std::vector<std::string>{"add@x.test", "par@x.test"}));
    CPPUNIT_ASSERT((m.msg.deleted_rcpts == std::vector<std::string>{"r@ours.test"}));
    CPPUNIT_ASSERT_EQUAL(std::string("held"), *m.msg.quarantine);
  }

  void own_reply_and_recipient_reject() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'R' && p.data.find("bad") != std::string::npos) return pk('r');
      if (p.code == 'R' && p.data.find("later") != std::string::npos) return pk('t');
      if (p.code == 'E')
        return pk('y', std::string("554-5.7.1 Spam\r\n554 5.7.1 go away\0", 34));
      return cont(p);
    });
    event::EventBase base;
    MessageFile m(kMessage);
    MilterSession s(base, config(f.spec()), test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    auto bad = stage(base, [&](auto d) { s.rcpt({"<bad@ours.test>"}, d); });
    CPPUNIT_ASSERT(bad.kind == MilterVerdict::Kind::Reject);
    CPPUNIT_ASSERT_EQUAL(std::string("550 5.7.1 Command rejected\r\n"), bad.reply.wire());
    auto later = stage(base, [&](auto d) { s.rcpt({"<later@ours.test>"}, d); });
    CPPUNIT_ASSERT_EQUAL(std::string("451 4.7.1 Service unavailable - try again later\r\n"), later.reply.wire());
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.rcpt({"<ok@ours.test>"}, d); }).kind == MilterVerdict::Kind::Continue);
    auto v = stage(base, [&](auto d) { s.message(&m.msg, d); });
    CPPUNIT_ASSERT(v.kind == MilterVerdict::Kind::Reject);
    CPPUNIT_ASSERT_EQUAL(std::string("554-5.7.1 Spam\r\n554 5.7.1 go away\r\n"), v.reply.wire());
    CPPUNIT_ASSERT_EQUAL(f.spec(), v.filter);
  }

  void skip_and_accept() {
    testing::TempDir tmp;
    std::string body = "Subject: x\r\n\r\n" + std::string(200000, 'b');
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'O') return optneg_reply(0, milter::kSkip);
      if (p.code == 'B') return pk('s');  // enough of the body
      return cont(p);
    });
    event::EventBase base;
    MessageFile m(body);
    MilterSession s(base, config(f.spec()), test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.message(&m.msg, d); }).kind == MilterVerdict::Kind::Continue);
    std::string codes = f.codes();
    CPPUNIT_ASSERT_EQUAL(1L, static_cast<long>(std::count(codes.begin(), codes.end(), 'B')));
    CPPUNIT_ASSERT(codes.back() == 'E');
    // A filter that accepts at connect sees nothing more of the session.
    testing::TempDir tmp2;
    FakeFilter g(tmp2.file("g.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'C') return pk('a');
      return cont(p);
    });
    MilterSession s2(base, config(g.spec()), test_macros);
    stage(base, [&](auto d) { s2.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s2.mail({"<s@client.test>"}, d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s2.message(&m.msg, d); }).kind == MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT_EQUAL(std::string("ODC"), g.codes());
  }

  void timeout_costs_default_action() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'E') return "";  // never answers the end of the message
      return cont(p);
    });
    event::EventBase base;
    MessageFile m(kMessage);
    MilterSession s(base, config(f.spec()), test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    auto v = stage(base, [&](auto d) { s.message(&m.msg, d); });
    CPPUNIT_ASSERT(v.kind == MilterVerdict::Kind::Tempfail);
    CPPUNIT_ASSERT_EQUAL(451, v.reply.code);
    // The filter is gone for the session: later stages get the default at once.
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); }).kind ==
                   MilterVerdict::Kind::Tempfail);
  }

  void garbage_costs_default_action() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'M') return std::string("\x7f\xff\xff\xff" "garbage", 11);
      return cont(p);
    });
    event::EventBase base;
    MilterSession s(base, config(f.spec(), "reject"), test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    auto v = stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    CPPUNIT_ASSERT(v.kind == MilterVerdict::Kind::Reject);
    CPPUNIT_ASSERT_EQUAL(std::string("550 5.7.1 Command rejected\r\n"), v.reply.wire());
    // A reply that is not allowed where it comes: the same.
    testing::TempDir tmp2;
    FakeFilter g(tmp2.file("g.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'H') return pk('h', std::string("X\0y\0", 4));  // a header edit at HELO
      return cont(p);
    });
    MilterSession s2(base, config(g.spec(), "tempfail"), test_macros);
    stage(base, [&](auto d) { s2.connect("c", '4', 25, "192.0.2.7", d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s2.helo("x", d); }).kind == MilterVerdict::Kind::Tempfail);
  }

  void unreachable_with_accept() {
    testing::TempDir tmp;
    event::EventBase base;
    MessageFile m(kMessage);
    MilterConfig c = config("unix:" + tmp.file("nobody.sock"), "accept");
    c.filters.push_back("inet:not-an-address:25");
    MilterSession s(base, c, test_macros);
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); }).kind ==
                   MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); }).kind ==
                   MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.message(&m.msg, d); }).kind == MilterVerdict::Kind::Continue);
    // quarantine: accepted, and the transaction is marked for the hold queue.
    MilterSession q(base, config("unix:" + tmp.file("nobody.sock"), "quarantine"), test_macros);
    stage(base, [&](auto d) { q.connect("c", '4', 25, "192.0.2.7", d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { q.mail({"<s@client.test>"}, d); }).kind == MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT(q.quarantine_by_default());
  }

  void not_negotiated() {
    testing::TempDir tmp;
    // Asks for a protocol step that was not offered: not used (default action).
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'O') return optneg_reply(0, milter::kRcptRej);
      return cont(p);
    });
    event::EventBase base;
    MilterSession s(base, config(f.spec()), test_macros);
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); }).kind ==
                   MilterVerdict::Kind::Tempfail);
    // An edit it did not negotiate: refused.
    testing::TempDir tmp2;
    FakeFilter g(tmp2.file("g.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'O') return optneg_reply(milter::kActAddHdrs, 0);
      if (p.code == 'E') return pk('b', "new") + pk('c');
      return cont(p);
    });
    MessageFile m(kMessage);
    MilterSession s2(base, config(g.spec()), test_macros);
    stage(base, [&](auto d) { s2.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s2.mail({"<s@client.test>"}, d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s2.message(&m.msg, d); }).kind == MilterVerdict::Kind::Tempfail);
    CPPUNIT_ASSERT(!m.msg.body);
    // A flood of changes: the filter is dropped, not the memory exhausted.
    testing::TempDir tmp3;
    FakeFilter h(tmp3.file("h.sock"), [](const Packet& p) -> std::string {
      if (p.code != 'E') return cont(p);
      std::string flood;
      for (int i = 0; i < 20000; ++i) flood += pk('h', std::string("X-Flood\0v\0", 10));
      return flood + pk('c');
    });
    MessageFile m3(kMessage);
    MilterSession s3(base, config(h.spec(), "reject"), test_macros);
    stage(base, [&](auto d) { s3.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s3.mail({"<s@client.test>"}, d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s3.message(&m3.msg, d); }).kind == MilterVerdict::Kind::Reject);
    CPPUNIT_ASSERT(m3.msg.headers.fields().size() <= 10003);
  }

  // milter_protocol = 2: offered as version 2 (no SMFIC_DATA, no sender change).
  void older_protocol_version() {
    testing::TempDir tmp;
    FakeFilter f(tmp.file("f.sock"), [](const Packet& p) -> std::string {
      if (p.code == 'O') return pk('O', u32(2) + u32(milter::kActAddHdrs) + u32(0));
      return cont(p);
    });
    event::EventBase base;
    MessageFile m(kMessage);
    MilterConfig c = config(f.spec());
    c.protocol = 2;
    MilterSession s(base, c, test_macros);
    stage(base, [&](auto d) { s.connect("c", '4', 25, "192.0.2.7", d); });
    stage(base, [&](auto d) { s.mail({"<s@client.test>"}, d); });
    stage(base, [&](auto d) { s.data(d); });
    CPPUNIT_ASSERT(stage(base, [&](auto d) { s.message(&m.msg, d); }).kind == MilterVerdict::Kind::Continue);
    CPPUNIT_ASSERT_EQUAL(u32(2) + u32(milter::offer_for_version(2).actions) + u32(milter::offer_for_version(2).protocol),
                         f.got().at(0).data);
    CPPUNIT_ASSERT(f.codes().find('T') == std::string::npos);
  }

  // The message as the filters left it: unchanged, fields edited, body replaced (also
  // of a message without a body), and a sink that fails stops it.
  void edited_content() {
    auto render = [](const MilterMessage& m) {
      std::string out;
      Status st = write_edited_content(m, [&out](std::string_view d) -> Status {
        out += d;
        return {};
      });
      CPPUNIT_ASSERT(st.ok());
      return out;
    };
    MessageFile same(kMessage);
    CPPUNIT_ASSERT_EQUAL(std::string(kMessage), render(same.msg));
    MessageFile edited(kMessage);
    edited.msg.headers.add("X-Scanned", "yes", false);
    edited.msg.headers_changed = true;
    CPPUNIT_ASSERT_EQUAL(std::string("Received: by us\r\nSubject: hi\r\nX-Old: 1\r\nX-Scanned: yes\r\n\r\nbody line\r\n"),
                         render(edited.msg));
    edited.msg.body = "new body\r\n";
    CPPUNIT_ASSERT_EQUAL(std::string("Received: by us\r\nSubject: hi\r\nX-Old: 1\r\nX-Scanned: yes\r\n\r\nnew body\r\n"),
                         render(edited.msg));
    MessageFile bare("Subject: x\r\n");
    bare.msg.body = "b\r\n";
    CPPUNIT_ASSERT_EQUAL(std::string("Subject: x\r\n\r\nb\r\n"), render(bare.msg));
    int calls = 0;
    Status st = write_edited_content(same.msg, [&calls](std::string_view) -> Status {
      ++calls;
      return Error("disk full");
    });
    CPPUNIT_ASSERT(!st.ok());
    CPPUNIT_ASSERT_EQUAL(1, calls);
    // A file shorter than the message says: an error, not a short message.
    MessageFile cut(kMessage);
    cut.msg.length += 100;
    CPPUNIT_ASSERT(!write_edited_content(cut.msg, [](std::string_view) -> Status { return {}; }).ok());
  }

  // smtpd_milter_maps values.
  void milter_list_values() {
    auto d = parse_milter_list("DISABLE");
    CPPUNIT_ASSERT(d && d->empty());
    auto lower = parse_milter_list("  disable ");
    CPPUNIT_ASSERT(lower && lower->empty());
    auto one = parse_milter_list("inet:127.0.0.1:8891");
    CPPUNIT_ASSERT(one && *one == std::vector<std::string>{"inet:127.0.0.1:8891"});
    auto two = parse_milter_list("inet:[::1]:1, unix:/run/f.sock\tinet:localhost:2,");
    CPPUNIT_ASSERT(two && (*two == std::vector<std::string>{"inet:[::1]:1", "unix:/run/f.sock", "inet:localhost:2"}));
  }

  void milter_list_bad_values() {
    for (std::string bad : {std::string(""), std::string(" , \t"), std::string("DISABLE inet:127.0.0.1:1"),
                            std::string("inet:127.0.0.1:1 DISABLE"), std::string("127.0.0.1:8891"),
                            std::string("inet:mail.example:25"), std::string("inet:127.0.0.1:"),
                            std::string("inet:127.0.0.1:99999"), std::string("unix:"), std::string("{ inet:127.0.0.1:1 }"),
                            std::string("inet:127.0.0.1:1\x01"), std::string("unix:/") + std::string(200, 'x'),
                            std::string("inet:127.0.0.1:1 ") + std::string(5000, 'x')}) {
      auto r = parse_milter_list(bad);
      CPPUNIT_ASSERT_MESSAGE(str::printable(bad, 60), !r);
      CPPUNIT_ASSERT(!r.error().temporary());
      CPPUNIT_ASSERT(r.error().str().size() < 300);
    }
    std::string many;
    for (int i = 0; i < 21; ++i) many += "inet:127.0.0.1:" + std::to_string(1000 + i) + " ";
    CPPUNIT_ASSERT(!parse_milter_list(many));
    many.resize(many.rfind("inet:"));
    auto twenty = parse_milter_list(many);
    CPPUNIT_ASSERT(twenty && twenty->size() == 20);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MilterTest);
