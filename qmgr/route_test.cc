// qmgr/route_test.cc - recipient resolution, table-driven, with hostile tables.
#include "qmgr/route.h"

#include <cppunit/extensions/HelperMacros.h>

#include <map>

using namespace postilion;
using qmgr::Route;

namespace {

qmgr::Lookup table(std::map<std::string, std::string> m) {
  return [m](std::string_view k) -> std::optional<std::string> {
    auto it = m.find(std::string(k));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

qmgr::RouteConfig config() {
  qmgr::RouteConfig c;
  c.myhostname = "mx.example.org";
  c.mydestination = {"mx.example.org", "example.org", "localhost"};
  c.virtual_alias_domains = {"virt.test"};
  c.virtual_alias_map = table({{"info@virt.test", "bob@example.org, carol@remote.test"},
                               {"loop1@virt.test", "loop2@virt.test"},
                               {"loop2@virt.test", "loop1@virt.test"},
                               {"self@virt.test", "self@virt.test"},
                               {"empty@virt.test", " , "},
                               {"@catch.test", "postmaster@example.org"},
                               {"gone@virt.test", "a@discard.test, b@quiet.test"}});
  c.transport_map = table({{"special.test", "smtp:[127.0.0.9]:2525"},
                           {".sub.test", "relay:"},
                           {"blocked.test", "error:no mail for you"},
                           {"broken.test", "sm tp:x"},
                           {"vip@example.org", "smtp:[127.0.0.8]"},
                           {"discard.test", "discard:"},
                           {"quiet.test", "discard:dropped by policy"}});
  return c;
}

}  // namespace

class RouteTest : public CppUnit::TestFixture {
  CPPUNIT_TEST_SUITE(RouteTest);
  CPPUNIT_TEST(single_routes);
  CPPUNIT_TEST(virtual_aliases);
  CPPUNIT_TEST(relayhost_and_transport_entries);
  CPPUNIT_TEST(address_classes);
  CPPUNIT_TEST(content_filter_routes);
  CPPUNIT_TEST_SUITE_END();

 public:
  void single_routes() {
    auto c = config();
    struct Row { const char* rcpt; Route::Kind kind; const char* transport; const char* nexthop; const char* address; } rows[] = {
        {"bob@example.org", Route::Kind::Deliver, "local", "", "bob@example.org"},
        {"Bob@EXAMPLE.org", Route::Kind::Deliver, "local", "", "Bob@example.org"},
        {"bob", Route::Kind::Deliver, "local", "", "bob@mx.example.org"},
        {"x@remote.test", Route::Kind::Deliver, "smtp", "remote.test", "x@remote.test"},
        {"x@special.test", Route::Kind::Deliver, "smtp", "[127.0.0.9]:2525", "x@special.test"},
        {"x@a.sub.test", Route::Kind::Deliver, "relay", "a.sub.test", "x@a.sub.test"},
        {"x@blocked.test", Route::Kind::Bounce, "", "", "x@blocked.test"},
        {"x@broken.test", Route::Kind::Bounce, "", "", "x@broken.test"},
        {"vip@example.org", Route::Kind::Deliver, "smtp", "[127.0.0.8]", "vip@example.org"},
        {"nobody@virt.test", Route::Kind::Bounce, "", "", "nobody@virt.test"},
        {"a\r\nb@x", Route::Kind::Bounce, "", "", "a\r\nb@x"},
        {"@x", Route::Kind::Bounce, "", "", "@x"},
    };
    for (auto& r : rows) {
      auto routes = qmgr::resolve(c, r.rcpt);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, size_t(1), routes.size());
      CPPUNIT_ASSERT_MESSAGE(r.rcpt, r.kind == routes[0].kind);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, std::string(r.address), routes[0].address);
      if (r.kind == Route::Kind::Deliver) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, std::string(r.transport), routes[0].transport);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, std::string(r.nexthop), routes[0].nexthop);
      } else {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.rcpt, '5', routes[0].dsn[0]);
      }
    }
    CPPUNIT_ASSERT_EQUAL(std::string("no mail for you"), qmgr::resolve(c, "x@blocked.test")[0].reason);
  }

  void virtual_aliases() {
    auto c = config();
    auto r = qmgr::resolve(c, "info@virt.test");
    CPPUNIT_ASSERT_EQUAL(size_t(2), r.size());
    CPPUNIT_ASSERT_EQUAL(std::string("local"), r[0].transport);
    CPPUNIT_ASSERT_EQUAL(std::string("bob@example.org"), r[0].address);
    CPPUNIT_ASSERT_EQUAL(std::string("smtp"), r[1].transport);
    auto loop = qmgr::resolve(c, "loop1@virt.test");
    CPPUNIT_ASSERT_EQUAL(size_t(1), loop.size());
    CPPUNIT_ASSERT(loop[0].kind == Route::Kind::Bounce);
    CPPUNIT_ASSERT_EQUAL(std::string("5.4.6"), loop[0].dsn);
    // An alias to itself stops: virt.test is a virtual domain so that is unknown.
    CPPUNIT_ASSERT(qmgr::resolve(c, "self@virt.test")[0].kind == Route::Kind::Bounce);
    CPPUNIT_ASSERT(qmgr::resolve(c, "empty@virt.test")[0].kind == Route::Kind::Bounce);
    auto catchall = qmgr::resolve(c, "anyone@catch.test");
    CPPUNIT_ASSERT_EQUAL(std::string("postmaster@example.org"), catchall[0].address);
    // user+ext@domain: found as user@domain, the extension goes on to the targets;
    // without a recipient_delimiter there is no extension, so it is unknown.
    c.recipient_delimiter = "+";
    auto ext = qmgr::resolve(c, "info+sales@virt.test");
    CPPUNIT_ASSERT_EQUAL(size_t(2), ext.size());
    CPPUNIT_ASSERT_EQUAL(std::string("bob+sales@example.org"), ext[0].address);
    CPPUNIT_ASSERT_EQUAL(std::string("carol+sales@remote.test"), ext[1].address);
    CPPUNIT_ASSERT(qmgr::resolve(c, "self+x@virt.test")[0].kind == Route::Kind::Bounce);
    c.recipient_delimiter = "";
    CPPUNIT_ASSERT(qmgr::resolve(c, "info+sales@virt.test")[0].kind == Route::Kind::Bounce);
    // A wide expansion is bounded.
    c.max_expansion = 1;
    auto wide = qmgr::resolve(c, "info@virt.test");
    CPPUNIT_ASSERT_EQUAL(size_t(2), wide.size());
    CPPUNIT_ASSERT(wide[1].kind == Route::Kind::Bounce);
  }

  void relayhost_and_transport_entries() {
    auto c = config();
    c.relayhost = "[127.0.0.5]:2525";
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.5]:2525"), qmgr::resolve(c, "x@remote.test")[0].nexthop);
    CPPUNIT_ASSERT_EQUAL(std::string(""), qmgr::resolve(c, "bob@example.org")[0].nexthop);
    struct Row { const char* in; bool ok; const char* t; const char* n; } rows[] = {
        {"smtp:[h]:25", true, "smtp", "[h]:25"}, {"local:", true, "local", ""}, {":x.y", true, "", "x.y"},
        {"smtp", true, "smtp", ""}, {"", false, "", ""}, {":", false, "", ""}, {"a b:c", false, "", ""},
        {"smtp:a\nb", false, "", ""},
    };
    auto d = qmgr::resolve(c, "x@discard.test");
    CPPUNIT_ASSERT_EQUAL(size_t(1), d.size());
    CPPUNIT_ASSERT(d[0].kind == qmgr::Route::Kind::Discard);
    CPPUNIT_ASSERT_EQUAL(std::string("discard.test"), d[0].reason);
    CPPUNIT_ASSERT_EQUAL(std::string("dropped by policy"), qmgr::resolve(c, "y@quiet.test")[0].reason);
    auto g = qmgr::resolve(c, "gone@virt.test");
    CPPUNIT_ASSERT_EQUAL(size_t(2), g.size());
    CPPUNIT_ASSERT(g[0].kind == qmgr::Route::Kind::Discard && g[1].kind == qmgr::Route::Kind::Discard);
    for (auto& r : rows) {
      auto e = qmgr::parse_transport_entry(r.in);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, r.ok, e.has_value());
      if (!r.ok) continue;
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.t), e->transport);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.in, std::string(r.n), e->nexthop);
    }
  }

  // A content filter overrides every rule: aliases, transport_maps and the class; an
  // empty nexthop is default_filter_nexthop, else the domain; bad values defer.
  void content_filter_routes() {
    auto c = config();
    struct Row { const char* filter; const char* rcpt; Route::Kind kind; const char* transport, *nexthop, *address; } rows[] = {
        {"smtp:[127.0.0.1]:10025", "info@virt.test", Route::Kind::Deliver, "smtp", "[127.0.0.1]:10025", "info@virt.test"},
        {"scan:[127.0.0.1]:10025", "x@blocked.test", Route::Kind::Deliver, "scan", "[127.0.0.1]:10025", "x@blocked.test"},
        {"lmtp:unix:private/f", "bob@example.org", Route::Kind::Deliver, "lmtp", "unix:private/f", "bob@example.org"},
        {"smtp:", "x@remote.test", Route::Kind::Deliver, "smtp", "remote.test", "x@remote.test"},
        {"smtp:", "bob", Route::Kind::Deliver, "smtp", "mx.example.org", "bob@mx.example.org"},
        {"smtp", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
        {":[127.0.0.1]:10025", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
        {"sm tp:[h]", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
        {"error:no", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
        {"smtp:[h]\r\nX", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
        {"", "x@remote.test", Route::Kind::Defer, "", "", "x@remote.test"},
    };
    for (auto& r : rows) {
      auto got = qmgr::filter_route(c, r.filter, r.rcpt);
      std::string what = std::string(r.filter) + " " + r.rcpt;
      CPPUNIT_ASSERT_MESSAGE(what, got.kind == r.kind);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string(r.address), got.address);
      if (r.kind != Route::Kind::Deliver) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string("4.3.5"), got.dsn);
        continue;
      }
      CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string(r.transport), got.transport);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string(r.nexthop), got.nexthop);
    }
    c.default_filter_nexthop = "[127.0.0.2]:10026";
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.2]:10026"), qmgr::filter_route(c, "smtp:", "x@remote.test").nexthop);
    CPPUNIT_ASSERT_EQUAL(std::string("[127.0.0.1]"), qmgr::filter_route(c, "smtp:[127.0.0.1]", "x@remote.test").nexthop);
  }

  void address_classes() {
    // Postfix's address classes: mydestination -> local_transport, virtual mailbox
    // domains -> virtual_transport (unknown users bounce), relay domains ->
    // relay_transport, the rest -> default_transport; transport_maps above them all.
    struct Row {
      const char* name;
      const char* relayhost;
      const char* relay_transport;  // "transport[:nexthop]"
      const char* virtual_transport;
      const char* rcpt;
      Route::Kind kind;
      const char* transport;
      const char* nexthop;
    } rows[] = {
        {"relay domain", "", "relay", "virtual", "x@relayed.test", Route::Kind::Deliver, "relay", "relayed.test"},
        {"relay subdomain is not relayed", "", "relay", "virtual", "x@a.relayed.test", Route::Kind::Deliver, "smtp", "a.relayed.test"},
        {"relay domain, any case", "", "relay", "virtual", "x@RELAYED.test", Route::Kind::Deliver, "relay", "relayed.test"},
        {"relay domain with relayhost", "[gw]:26", "relay", "virtual", "x@relayed.test", Route::Kind::Deliver, "relay", "[gw]:26"},
        {"relay_transport nexthop beats relayhost", "[gw]:26", "relay:[inner]", "virtual", "x@relayed.test", Route::Kind::Deliver, "relay", "[inner]"},
        {"relay_transport renamed", "", "smtp", "virtual", "x@relayed.test", Route::Kind::Deliver, "smtp", "relayed.test"},
        {"default class", "", "relay", "virtual", "x@remote.test", Route::Kind::Deliver, "smtp", "remote.test"},
        {"default class with relayhost", "[gw]:26", "relay", "virtual", "x@remote.test", Route::Kind::Deliver, "smtp", "[gw]:26"},
        {"transport_maps beat relay_domains", "", "relay", "virtual", "x@pinned.test", Route::Kind::Deliver, "smtp", "[127.0.0.7]:2525"},
        {"transport_maps :nexthop keeps the class transport", "", "relay", "virtual", "x@hoponly.test", Route::Kind::Deliver, "relay", "[127.0.0.6]"},
        {"virtual mailbox", "", "relay", "virtual", "ann@vbox.test", Route::Kind::Deliver, "virtual", "vbox.test"},
        {"virtual mailbox, relayhost not used", "[gw]:26", "relay", "virtual", "ann@vbox.test", Route::Kind::Deliver, "virtual", "vbox.test"},
        {"virtual_transport with nexthop", "", "relay", "lmtp:[store]:24", "ann@vbox.test", Route::Kind::Deliver, "lmtp", "[store]:24"},
        {"virtual mailbox catch-all", "", "relay", "virtual", "anyone@catchall.test", Route::Kind::Deliver, "virtual", "catchall.test"},
        {"virtual mailbox unknown user", "", "relay", "virtual", "nobody@vbox.test", Route::Kind::Bounce, "", ""},
        {"virtual mailbox user+ext", "", "relay", "virtual", "ann+news@vbox.test", Route::Kind::Deliver, "virtual", "vbox.test"},
        {"virtual mailbox unknown user+ext", "", "relay", "virtual", "nobody+ann@vbox.test", Route::Kind::Bounce, "", ""},
        {"mydestination wins over relay_domains", "", "relay", "virtual", "bob@example.org", Route::Kind::Deliver, "local", ""},
    };
    for (const auto& r : rows) {
      auto c = config();
      c.relay_domains = {"relayed.test", "pinned.test", "hoponly.test", "example.org"};
      c.virtual_mailbox_domains = {"vbox.test", "catchall.test"};
      c.virtual_mailbox_map = table({{"ann@vbox.test", "vbox.test/ann/"}, {"@catchall.test", "catchall.test/all/"}});
      c.transport_map = table({{"pinned.test", "smtp:[127.0.0.7]:2525"}, {"hoponly.test", ":[127.0.0.6]"}});
      c.relayhost = r.relayhost;
      c.recipient_delimiter = "+";
      auto split = [](std::string v, std::string* t, std::string* n) {
        size_t colon = v.find(':');
        *t = v.substr(0, colon);
        *n = colon == std::string::npos ? "" : v.substr(colon + 1);
      };
      split(r.relay_transport, &c.relay_transport, &c.relay_nexthop);
      split(r.virtual_transport, &c.virtual_transport, &c.virtual_nexthop);
      auto routes = qmgr::resolve(c, r.rcpt);
      CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, size_t(1), routes.size());
      CPPUNIT_ASSERT_MESSAGE(r.name, r.kind == routes[0].kind);
      if (r.kind == Route::Kind::Deliver) {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string(r.transport), routes[0].transport);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string(r.nexthop), routes[0].nexthop);
      } else {
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string("5.1.1"), routes[0].dsn);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.name, std::string("user unknown in virtual mailbox table"), routes[0].reason);
      }
    }
    // Without virtual_mailbox_maps every address of the domain goes to the transport.
    auto c = config();
    c.virtual_mailbox_domains = {"vbox.test"};
    CPPUNIT_ASSERT_EQUAL(std::string("virtual"), qmgr::resolve(c, "whoever@vbox.test")[0].transport);
  }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RouteTest);
