// lib/milter/protocol_test.cc - the milter codec: packets as libmilter expects them,
// every reply and modification decoded, and malformed, oversized and hostile packets
// refused; the framer fed whole and one byte at a time.
#include "lib/milter/protocol.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;
using namespace postilion::milter;

namespace {

std::string u32(uint32_t v) {
  std::string s;
  s += static_cast<char>(v >> 24);
  s += static_cast<char>(v >> 16);
  s += static_cast<char>(v >> 8);
  s += static_cast<char>(v);
  return s;
}

std::string pk(char code, std::string_view data = {}) { return u32(static_cast<uint32_t>(data.size() + 1)) + code + std::string(data); }

Packet packet(char code, std::string_view data = {}) { return Packet{code, std::string(data)}; }

}  // namespace

class ProtocolTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(ProtocolTest);
  CPPUNIT_TEST(encoder);
  CPPUNIT_TEST(framer);
  CPPUNIT_TEST(framer_hostile);
  CPPUNIT_TEST(replies);
  CPPUNIT_TEST(malformed_replies);
  CPPUNIT_TEST(reply_codes);
  CPPUNIT_TEST(negotiation);
  CPPUNIT_TEST_SUITE_END();

 public:
  void encoder() {
    CPPUNIT_ASSERT_EQUAL(pk('O', u32(6) + u32(0x1ff) + u32(offer_for_version(6).protocol)), optneg(offer_for_version(6)));
    CPPUNIT_ASSERT_EQUAL(pk('C', std::string("mx.example\0" "4\x00\x19" "192.0.2.7\0", 24)),
                         connect("mx.example", '4', 25, "192.0.2.7"));
    CPPUNIT_ASSERT_EQUAL(pk('C', std::string("unknown\0U", 9)), connect("unknown", 'U', 0, ""));
    CPPUNIT_ASSERT_EQUAL(pk('H', std::string("client\0", 7)), helo("client"));
    CPPUNIT_ASSERT_EQUAL(pk('M', std::string("<a@b>\0SIZE=10\0", 14)), mail({"<a@b>", "SIZE=10"}));
    CPPUNIT_ASSERT_EQUAL(pk('R', std::string("<c@d>\0", 6)), rcpt({"<c@d>"}));
    CPPUNIT_ASSERT_EQUAL(pk('L', std::string("Subject\0hi\nthere\0", 17)), header("Subject", "hi\nthere"));
    CPPUNIT_ASSERT_EQUAL(pk('B', "line\r\n"), body("line\r\n"));
    CPPUNIT_ASSERT_EQUAL(pk('E'), encode(Cmd::BodyEob));
    CPPUNIT_ASSERT_EQUAL(pk('N'), encode(Cmd::Eoh));
    CPPUNIT_ASSERT_EQUAL(pk('T'), encode(Cmd::Data));
    CPPUNIT_ASSERT_EQUAL(pk('A'), encode(Cmd::Abort));
    CPPUNIT_ASSERT_EQUAL(pk('Q'), encode(Cmd::Quit));
    CPPUNIT_ASSERT_EQUAL(pk('K'), encode(Cmd::QuitNc));
    CPPUNIT_ASSERT_EQUAL(pk('D', std::string("Mi\0ABC\0{mail_addr}\0a@b\0", 23)),
                         macros(Cmd::Mail, {{"i", "ABC"}, {"{mail_addr}", "a@b"}}));
    // A NUL in a peer's string cannot shift the fields that follow.
    CPPUNIT_ASSERT_EQUAL(pk('H', std::string("a\0", 2)), helo(std::string("a\0b", 3)));
    // Older versions offer less.
    CPPUNIT_ASSERT(!(offer_for_version(2).actions & kActChgFrom));
    CPPUNIT_ASSERT(!(offer_for_version(2).protocol & kSkip));
    CPPUNIT_ASSERT(offer_for_version(6).protocol & kSkip);
    CPPUNIT_ASSERT(!(offer_for_version(6).protocol & kRcptRej));
  }

  void framer() {
    std::string wire = pk('c') + pk('y', std::string("550 5.7.1 no\0", 13)) + pk('b', std::string(70000, 'x'));
    for (size_t step : {wire.size(), size_t(1), size_t(3), size_t(4096)}) {
      Framer f;
      std::vector<Packet> got;
      size_t pos = 0;
      while (pos < wire.size()) {
        size_t used = 0;
        Packet p;
        auto st = f.feed(std::string_view(wire).substr(pos, std::min(step, wire.size() - pos)), &used, &p);
        CPPUNIT_ASSERT(st != Framer::Status::Bad);
        pos += used;
        if (st == Framer::Status::Packet) got.push_back(p);
      }
      CPPUNIT_ASSERT_EQUAL(size_t(3), got.size());
      CPPUNIT_ASSERT_EQUAL('c', got[0].code);
      CPPUNIT_ASSERT(got[0].data.empty());
      CPPUNIT_ASSERT_EQUAL('y', got[1].code);
      CPPUNIT_ASSERT_EQUAL(size_t(70000), got[2].data.size());
    }
    // Every truncated prefix of a packet needs more.
    std::string one = pk('h', std::string("X\0y\0", 4));
    for (size_t n = 0; n < one.size(); ++n) {
      Framer f;
      size_t used = 0;
      Packet p;
      CPPUNIT_ASSERT(f.feed(one.substr(0, n), &used, &p) == Framer::Status::NeedMore);
      CPPUNIT_ASSERT_EQUAL(n, used);
    }
  }

  void framer_hostile() {
    Framer f(1000);
    size_t used = 0;
    Packet p;
    CPPUNIT_ASSERT(f.feed(u32(0), &used, &p) == Framer::Status::Bad);
    CPPUNIT_ASSERT(f.feed(pk('c'), &used, &p) == Framer::Status::Bad);  // stays bad
    Framer g(1000);
    CPPUNIT_ASSERT(g.feed(u32(1001) + "b", &used, &p) == Framer::Status::Bad);
    CPPUNIT_ASSERT(g.error().find("over the limit") != std::string::npos);
    Framer h;
    CPPUNIT_ASSERT(h.feed(u32(0xffffffffu), &used, &p) == Framer::Status::Bad);
    Framer k(1000);
    CPPUNIT_ASSERT(k.feed(u32(1000) + std::string(999, 'b'), &used, &p) == Framer::Status::NeedMore);
  }

  void replies() {
    struct Row { char code; Rep type; } simple[] = {
        {'a', Rep::Accept}, {'c', Rep::Continue}, {'d', Rep::Discard}, {'r', Rep::Reject},
        {'t', Rep::Tempfail}, {'p', Rep::Progress}, {'s', Rep::Skip}, {'4', Rep::Shutdown}, {'f', Rep::ConnFail}};
    for (const auto& row : simple) {
      auto r = decode_reply(packet(row.code));
      CPPUNIT_ASSERT(r);
      CPPUNIT_ASSERT(r->type == row.type);
    }
    auto y = decode_reply(packet('y', std::string("554 5.7.1 Gtube pattern\0", 24)));
    CPPUNIT_ASSERT(y && y->type == Rep::ReplyCode && y->text == "554 5.7.1 Gtube pattern");
    auto h = decode_reply(packet('h', std::string("X-Spam\0yes\0", 11)));
    CPPUNIT_ASSERT(h && h->type == Rep::AddHeader && h->name == "X-Spam" && h->value == "yes");
    auto i = decode_reply(packet('i', u32(2) + std::string("X-First\0a\0", 10)));
    CPPUNIT_ASSERT(i && i->type == Rep::InsHeader && i->index == 2 && i->name == "X-First" && i->value == "a");
    auto m = decode_reply(packet('m', u32(1) + std::string("Subject\0\0", 9)));
    CPPUNIT_ASSERT(m && m->type == Rep::ChgHeader && m->index == 1 && m->value.empty());  // delete
    auto b = decode_reply(packet('b', std::string("new\0body\r\n", 10)));
    CPPUNIT_ASSERT(b && b->type == Rep::ReplBody && b->value == std::string("new\0body\r\n", 10));
    auto e = decode_reply(packet('e', std::string("<s@x>\0", 6)));
    CPPUNIT_ASSERT(e && e->type == Rep::ChgFrom && e->text == "<s@x>" && e->args.empty());
    auto e2 = decode_reply(packet('e', std::string("<s@x>\0SIZE=5\0", 13)));
    CPPUNIT_ASSERT(e2 && e2->args == "SIZE=5");
    auto add = decode_reply(packet('+', std::string("<r@x>\0", 6)));
    CPPUNIT_ASSERT(add && add->type == Rep::AddRcpt && add->text == "<r@x>");
    auto addp = decode_reply(packet('2', std::string("<r@x>\0NOTIFY=NEVER\0", 19)));
    CPPUNIT_ASSERT(addp && addp->type == Rep::AddRcptPar && addp->args == "NOTIFY=NEVER");
    auto del = decode_reply(packet('-', std::string("<r@x>\0", 6)));
    CPPUNIT_ASSERT(del && del->type == Rep::DelRcpt && del->text == "<r@x>");
    auto q = decode_reply(packet('q', std::string("held\0", 5)));
    CPPUNIT_ASSERT(q && q->type == Rep::Quarantine && q->text == "held");
  }

  void malformed_replies() {
    const Packet rows[] = {
        packet('c', "x"),                                     // data where none belongs
        packet('y', "550 5.7.1 no NUL"),                     // unterminated
        packet('y', std::string("250 2.0.0 ok\0", 13)),      // not a refusal
        packet('h', std::string("X-Spam\0", 7)),             // value missing
        packet('h', std::string("\0v\0", 3)),                // empty name
        packet('h', std::string("Bad:Name\0v\0", 11)),       // colon in the name
        packet('h', std::string("Bad Name\0v\0", 11)),       // blank in the name
        packet('h', std::string("X\0v\0extra", 9)),          // trailing bytes
        packet('h', std::string(1000, 'N') + std::string("\0v\0", 3)),  // name too long
        packet('i', "ab"),                                    // index cut short
        packet('m', u32(1) + "Subject"),                     // no NUL at all
        packet('+', std::string("\0", 1)),                    // empty address
        packet('-', ""),                                      // no address
        packet('2', std::string("<a@b>\0args", 10)),          // parameters unterminated
        packet('O', u32(6)),                                  // negotiation out of turn
        packet('l', u32(0) + std::string("i\0", 2)),          // symbol list out of turn
        packet('Z'),                                          // unknown code
        packet('\0'),
    };
    for (const auto& p : rows) {
      auto r = decode_reply(p);
      CPPUNIT_ASSERT_MESSAGE(std::string("accepted code ") + p.code, !r);
      CPPUNIT_ASSERT(!r.error().empty());
    }
  }

  void reply_codes() {
    struct Row { const char* text; int code; } rows[] = {
        {"550 5.7.1 rejected", 550},
        {"451 4.7.1 try later", 451},
        {"550 rejected without enhanced code", 550},
        {"554", 554},
        {"550-5.7.1 first\r\n550 5.7.1 second", 550},
        {"550-5.7.1 first\r\n550 5.7.1 second\r\n", 550},
        {"250 2.0.0 ok", 0},
        {"350 go on", 0},
        {"55 short", 0},
        {"5x0 bad", 0},
        {"550 4.7.1 class mismatch", 0},
        {"450 5.7.1 class mismatch", 0},
        {"550-first\r\n551 second", 0},
        {"550-first", 0},
        {"550 first\r\n550 second", 0},
        {"550 a\nb", 0},
        {"550xtext", 0},
        {"", 0},
    };
    for (const auto& row : rows) {
      auto c = check_reply_code(row.text);
      CPPUNIT_ASSERT_MESSAGE(row.text, row.code ? (c && *c == row.code) : !c);
    }
    CPPUNIT_ASSERT(!check_reply_code("550 " + std::string(70000, 'x')));
    std::string many;
    for (int i = 0; i < 200; ++i) many += "550-x\r\n";
    CPPUNIT_ASSERT(!check_reply_code(many + "550 x"));
  }

  void negotiation() {
    Offer o = offer_for_version(6);
    auto n = decode_optneg(packet('O', u32(6) + u32(kActAddHdrs | kActChgBody) + u32(kNoConnect | kSkip)), o);
    CPPUNIT_ASSERT(n);
    CPPUNIT_ASSERT_EQUAL(uint32_t(6), n->version);
    CPPUNIT_ASSERT_EQUAL(uint32_t(kActAddHdrs | kActChgBody), n->actions);
    CPPUNIT_ASSERT_EQUAL(uint32_t(kNoConnect | kSkip), n->protocol);
    auto s = decode_optneg(packet('O', u32(6) + u32(kActSetSymList) + u32(0) + u32(2) + std::string("{mail_addr} i\0", 14) +
                                           u32(0) + std::string("j,{client_addr}\0", 16)),
                           o);
    CPPUNIT_ASSERT(s);
    CPPUNIT_ASSERT(s->has_symlist[2] && s->has_symlist[0] && !s->has_symlist[1]);
    CPPUNIT_ASSERT(s->symlist[2] == (std::vector<std::string>{"{mail_addr}", "i"}));
    CPPUNIT_ASSERT(s->symlist[0] == (std::vector<std::string>{"j", "{client_addr}"}));
    const std::string bad[] = {
        u32(6),                                                         // short
        u32(1) + u32(0) + u32(0),                                       // version 1
        u32(7) + u32(0) + u32(0),                                       // newer than any
        u32(6) + u32(0x200) + u32(0),                                   // action not offered
        u32(6) + u32(0) + u32(kRcptRej),                                // step not offered
        u32(6) + u32(0) + u32(kMds1M),                                  // larger chunks
        u32(6) + u32(0) + u32(0) + u32(9) + std::string("i\0", 2),       // unknown stage
        u32(6) + u32(0) + u32(0) + u32(1) + "i",                        // list without NUL
        u32(6) + u32(0) + u32(0) + u32(1),                              // stage without list
        u32(6) + u32(0) + u32(0) + u32(1) + std::string("i\0", 2) + u32(1) + std::string("j\0", 2),  // twice
        u32(6) + u32(0) + u32(0) + u32(1) + std::string("a\x01\0", 3),   // control character
    };
    for (const auto& d : bad) CPPUNIT_ASSERT(!decode_optneg(packet('O', d), o));
    CPPUNIT_ASSERT(!decode_optneg(packet('c'), o));
    // What version 2 did not offer cannot be asked for.
    CPPUNIT_ASSERT(!decode_optneg(packet('O', u32(2) + u32(kActChgFrom) + u32(0)), offer_for_version(2)));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ProtocolTest);
