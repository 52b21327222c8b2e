// lib/mail/encoding_test.cc - base64, quoted-printable, RFC 2047/2231 and charsets.
#include "lib/mail/encoding.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace postilion;

class EncodingTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(EncodingTest);
  CPPUNIT_TEST(base64);
  CPPUNIT_TEST(quoted_printable);
  CPPUNIT_TEST(charsets);
  CPPUNIT_TEST(rfc2047);
  CPPUNIT_TEST(percent);
  CPPUNIT_TEST_SUITE_END();

 public:
  void base64() {
    struct Row { std::string in, out; } rows[] = {
        {"aGVsbG8=", "hello"},
        {"aGVs\r\nbG8=\r\n", "hello"},
        {"aGVsbG8", "hello"},          // no padding
        {"a G V s b G 8 =", "hello"},  // junk spaces
        {"!!!aGVs*bG8=garbage", "hello"},
        {"", ""},
        {"=", ""},
        {"====aGVsbG8=", ""},
        {"QQ", "A"},
        {"Q", ""},  // a lone sextet holds no byte
        {"\xff\xfe\x80", ""},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, mail::decode_base64_lenient(r.in));
    std::string big(1 << 20, 'A');
    CPPUNIT_ASSERT_EQUAL(size_t(3 << 18), mail::decode_base64_lenient(big).size());
  }

  void quoted_printable() {
    struct Row { std::string in, out; } rows[] = {
        {"caf=C3=A9", "caf\xC3\xA9"},
        {"caf=c3=a9", "caf\xC3\xA9"},
        {"soft=\r\nbreak\r\n", "softbreak\r\n"},
        {"soft=\nbreak", "softbreak"},
        {"trailing   \r\nx", "trailing\r\nx"},
        {"a=\t \r\nb", "ab"},  // whitespace after a soft break
        {"bad=ZZ", "bad=ZZ"},
        {"end=", "end"},
        {"end=4", "end=4"},
        {"=", ""},
        {"==41", "=A"},
        {"", ""},
        {"no change\n", "no change\n"},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, mail::decode_quoted_printable(r.in));
    CPPUNIT_ASSERT_EQUAL(std::string("hello"), mail::decode_transfer("aGVsbG8=", "BASE64"));
    CPPUNIT_ASSERT_EQUAL(std::string("a=41"), mail::decode_transfer("a=41", "8bit"));
    CPPUNIT_ASSERT_EQUAL(std::string("aA"), mail::decode_transfer("a=41", " Quoted-Printable "));
  }

  void charsets() {
    CPPUNIT_ASSERT(mail::known_charset("UTF-8"));
    CPPUNIT_ASSERT(mail::known_charset("iso-8859-15"));
    CPPUNIT_ASSERT(mail::known_charset("Windows-1252"));
    CPPUNIT_ASSERT(mail::known_charset("cp1251"));
    CPPUNIT_ASSERT(mail::known_charset(""));
    CPPUNIT_ASSERT(!mail::known_charset("iso-8859-99"));
    CPPUNIT_ASSERT(!mail::known_charset("x-unknown"));
    CPPUNIT_ASSERT(!mail::known_charset("windows-1259"));
    CPPUNIT_ASSERT_EQUAL(std::string("caf\xC3\xA9"), *mail::to_utf8("caf\xE9", "ISO-8859-1"));
    CPPUNIT_ASSERT_EQUAL(std::string("\xE2\x82\xAC"), *mail::to_utf8("\x80", "windows-1252"));
    CPPUNIT_ASSERT_EQUAL(std::string("\xE2\x82\xAC"), *mail::to_utf8("\xA4", "iso-8859-15"));
    CPPUNIT_ASSERT_EQUAL(std::string("\xD0\x96"), *mail::to_utf8("\xC6", "windows-1251"));
    CPPUNIT_ASSERT(!mail::to_utf8("x", "x-unknown"));
    // Invalid bytes become U+FFFD, valid ones stay.
    CPPUNIT_ASSERT_EQUAL(std::string("a\xEF\xBF\xBD" "b"), *mail::to_utf8("a\xFF" "b", "utf-8"));
    CPPUNIT_ASSERT_EQUAL(std::string("\xEF\xBF\xBD\xEF\xBF\xBD"), mail::sanitize_utf8("\xC0\xAF"));  // overlong
    CPPUNIT_ASSERT_EQUAL(std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"),
                         mail::sanitize_utf8("\xED\xA0\x80"));  // surrogate
    CPPUNIT_ASSERT_EQUAL(std::string("\xF0\x9F\x98\x80"), mail::sanitize_utf8("\xF0\x9F\x98\x80"));
    CPPUNIT_ASSERT_EQUAL(std::string("\xEF\xBF\xBD\xEF\xBF\xBD"), mail::sanitize_utf8("\xE2\x82"));  // cut
    // A truncated multibyte sequence at the end of a Shift_JIS text.
    auto sj = mail::to_utf8("\x82", "shift_jis");
    CPPUNIT_ASSERT(sj && sj->find("\xEF\xBF\xBD") != std::string::npos);
  }

  void rfc2047() {
    struct Row { std::string in, out; } rows[] = {
        {"=?UTF-8?B?Y2Fmw6k=?=", "caf\xC3\xA9"},
        {"=?iso-8859-1?q?caf=E9?=", "caf\xC3\xA9"},
        {"=?ISO-8859-1?Q?a_b?=", "a b"},
        {"x =?utf-8?q?a?= =?utf-8?q?b?= y", "x ab y"},  // space between words dropped
        {"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
        {"=?utf-8?q?a?= z =?utf-8?q?b?=", "a z b"},
        // A UTF-8 character split over two words is joined before conversion.
        {"=?utf-8?B?w6g=?= =?utf-8?B?4oI=?==?utf-8?B?rA==?=", "\xC3\xA8\xE2\x82\xAC"},
        {"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="},
        {"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
        {"=?utf-8?q?no end", "=?utf-8?q?no end"},
        {"=?utf-8?q?sp ace?=", "=?utf-8?q?sp ace?="},
        {"=?utf-8*en?q?lang?=", "lang"},
        {"=??q?x?=", "=??q?x?="},
        {"=?", "=?"},
        {"plain \xC3\xA9", "plain \xC3\xA9"},
        {"bad \xFF", "bad \xEF\xBF\xBD"},
        {"", ""},
        {"=?utf-8?q?=ZZ?=", "=ZZ"},
    };
    for (auto& r : rows) CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.out, mail::decode_rfc2047(r.in));
    // Hostile: many unterminated words do not blow up.
    std::string many;
    for (int i = 0; i < 20000; ++i) many += "=?a?";
    CPPUNIT_ASSERT_EQUAL(many, mail::decode_rfc2047(many));
  }

  void percent() {
    CPPUNIT_ASSERT_EQUAL(std::string("\xE2\x82\xAC x"), mail::percent_decode("%E2%82%ac%20x"));
    CPPUNIT_ASSERT_EQUAL(std::string("%G1%"), mail::percent_decode("%G1%"));
    CPPUNIT_ASSERT_EQUAL(std::string("a%20b%25%E2"), mail::percent_encode("a b%\xE2"));
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(EncodingTest);
