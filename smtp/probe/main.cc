// smtp/probe/main.cc - relay_probe, a test driver for smtp(8): writes a queue file into
// QUEUE_DIR/active from the command line and stdin, sends one delivery request (the
// qmgr side of lib/ipc/protocols.h) to the agent's socket, prints the reply and the
// recipients' status bytes afterwards. Used by tests/test_relay*.py; not installed.
//   relay_probe -q QUEUE_DIR -s SOCKET -n NEXTHOP [-f SENDER] [-a name=value]... [-r N] RCPT... < message
// -r N sends the request N times on one connection (each with a fresh queue file).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/base/unique_fd.h"
#include "lib/ipc/message.h"
#include "lib/queue/queue_file.h"
#include "lib/queue/queue_writer.h"

using namespace postilion;

int main(int argc, char** argv) {
  std::string qdir, sock, nexthop, sender;
  std::vector<std::pair<std::string, std::string>> attrs;
  int repeat = 1;
  int c;
  while ((c = getopt(argc, argv, "q:s:n:f:a:r:")) != -1) {
    switch (c) {
      case 'q': qdir = optarg; break;
      case 's': sock = optarg; break;
      case 'n': nexthop = optarg; break;
      case 'f': sender = optarg; break;
      case 'r': repeat = std::atoi(optarg); break;
      case 'a': {
        std::string kv = optarg;
        auto eq = kv.find('=');
        attrs.push_back({kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1)});
        break;
      }
      default: std::fprintf(stderr, "usage: relay_probe -q dir -s socket -n nexthop [-f sender] rcpt...\n"); return 2;
    }
  }
  std::vector<std::string> rcpts(argv + optind, argv + argc);
  if (qdir.empty() || sock.empty() || rcpts.empty()) return 2;
  std::string content((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string active = qdir + "/active";
  (void)file::make_dirs(active, 0700);
  auto conn = ipc::connect_unix(sock, 5000);
  if (!conn) {
    std::fprintf(stderr, "relay_probe: %s\n", conn.error().c_str());
    return 1;
  }
  for (int n = 0; n < repeat; ++n) {
    auto w = queue::QueueWriter::create(active);
    if (!w) return std::fprintf(stderr, "relay_probe: %s\n", w.error().c_str()), 1;
    if (!sender.empty()) (void)(*w)->sender(sender);
    for (auto& [k, v] : attrs) (void)(*w)->attribute(k, v);
    for (auto& r : rcpts) (void)(*w)->recipient(r, "rfc822;" + r);
    (void)(*w)->append_content(content);
    auto id = (*w)->commit();
    if (!id) return std::fprintf(stderr, "relay_probe: commit: %s\n", id.error().c_str()), 1;
    auto qf = queue::read_queue_file(active + "/" + *id);
    if (!qf || qf->parsed.status != queue::Parse::Complete) return std::fprintf(stderr, "relay_probe: reread failed\n"), 1;
    ipc::Message req;
    req.set("cmd", "deliver").set("id", *id).set("file", "active/" + *id).set("sender", sender).set("nexthop", nexthop);
    for (auto& r : qf->parsed.file.recipients)
      req.set("rcpt", r.address).set("orcpt", r.orcpt).set("offset", int64_t(r.offset));
    if (auto st = ipc::write_message(conn->get(), req, 5000); !st)
      return std::fprintf(stderr, "relay_probe: %s\n", st.error().c_str()), 1;
    auto reply = ipc::read_message(conn->get(), 300000);
    if (!reply) return std::fprintf(stderr, "relay_probe: %s\n", reply.error().c_str()), 1;
    std::printf("id=%s\n", id->c_str());
    for (auto& [k, v] : reply->attrs()) std::printf("%s=%s\n", k.c_str(), v.c_str());
    auto after = queue::read_queue_file(active + "/" + *id);
    if (after && after->parsed.status == queue::Parse::Complete)
      for (auto& r : after->parsed.file.recipients)
        std::printf("file_status=%s %s\n", r.address.c_str(), queue::status_name(r.status));
    std::fflush(stdout);
  }
  return 0;
}
