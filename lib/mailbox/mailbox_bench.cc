// lib/mailbox/mailbox_bench.cc - times of the mailbox index on a large Maildir: first
// index build, a login (open + refresh of an unchanged folder), a flag change, an
// append, a delivery found by refresh, and a full rescan. Prints figures (bench/
// mailbox_bench.py runs it); asserts nothing.
//
// Usage: mailbox_bench [messages] [folder]  (default 100000, a temporary folder)
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "lib/mailbox/mailbox.h"
#include "lib/mailbox/maildir.h"

using namespace postilion;
using namespace postilion::mailbox;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// A directory's mtime in the past: the refresh trusts it (see kTrustAfterNs).
void age(const std::string& dir) {
  struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
  ::utimensat(AT_FDCWD, dir.c_str(), ts, 0);
}

int fail(const char* what, const Error& e) {
  std::fprintf(stderr, "mailbox_bench: %s: %s\n", what, e.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long count = argc > 1 ? std::atol(argv[1]) : 100000;
  if (count <= 0 || count > 10000000) {
    std::fprintf(stderr, "usage: mailbox_bench [messages] [folder]\n");
    return 2;
  }
  std::string md;
  bool temp = argc <= 2;
  if (temp) {
    md = (std::filesystem::temp_directory_path() / "pst-mailbox-bench-XXXXXX").string();
    if (!::mkdtemp(md.data())) return 1;
  } else {
    md = argv[2];
    std::filesystem::create_directories(md);
  }
  for (const char* sub : {"/new", "/cur", "/tmp"}) ::mkdir((md + sub).c_str(), 0700);
  auto t0 = std::chrono::steady_clock::now();
  std::string body = "From: a@bench.test\nSubject: message\n\n" + std::string(1000, 'x') + "\n";
  for (long i = 0; i < count; ++i) {
    std::string name = md + "/cur/" + std::to_string(1600000000 + i) + ".M" + std::to_string(i) + "P1.bench,S=" +
                       std::to_string(body.size()) + ":2,S";
    std::ofstream(name) << body;
  }
  std::printf("messages                  %ld\n", count);
  std::printf("create files              %8.1f ms\n", ms_since(t0));

  t0 = std::chrono::steady_clock::now();
  auto box = Mailbox::open(md);
  if (!box) return fail("open", box.error());
  if (auto r = box->refresh(); !r) return fail("refresh", r.error());
  std::printf("first index build         %8.1f ms\n", ms_since(t0));
  age(md + "/new");
  age(md + "/cur");
  if (auto r = box->refresh(); !r) return fail("refresh", r.error());

  t0 = std::chrono::steady_clock::now();
  {
    auto login = Mailbox::open(md);
    if (!login) return fail("open", login.error());
    if (auto r = login->refresh(); !r) return fail("refresh", r.error());
  }
  std::printf("login (open + refresh)    %8.1f ms\n", ms_since(t0));

  t0 = std::chrono::steady_clock::now();
  if (auto r = box->refresh(); !r) return fail("refresh", r.error());
  std::printf("refresh, nothing changed  %8.3f ms\n", ms_since(t0));

  const int kRounds = 20;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    uint32_t uid = box->view().messages[static_cast<size_t>(count / 2 + i)].uid;
    if (auto r = box->store({uid}, StoreMode::Add, Flags{kFlagged, 0}); !r) return fail("store", r.error());
  }
  std::printf("flag change (1 message)   %8.3f ms\n", ms_since(t0) / kRounds);

  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i)
    if (auto r = box->append(body); !r) return fail("append", r.error());
  std::printf("append (1 message)        %8.3f ms\n", ms_since(t0) / kRounds);

  // Index updated in place: the other session learns of the changes from the index.
  auto other = Mailbox::open(md);
  if (auto r = other->refresh(); !r) return fail("refresh", r.error());
  if (auto r = box->store({box->view().messages[1].uid}, StoreMode::Add, Flags{kAnswered, 0}); !r)
    return fail("store", r.error());
  age(md + "/cur");
  age(md + "/new");
  (void)box->refresh();
  t0 = std::chrono::steady_clock::now();
  if (auto r = other->refresh(); !r) return fail("refresh", r.error());
  std::printf("refresh after 1 change    %8.3f ms\n", ms_since(t0));

  if (auto d = deliver(md, body); !d) return fail("deliver", d.error());
  t0 = std::chrono::steady_clock::now();
  if (auto r = box->refresh(); !r) return fail("refresh", r.error());
  std::printf("refresh after delivery    %8.3f ms\n", ms_since(t0));

  // A change in cur/ by another program: the whole directory is read again.
  std::string first = md + "/" + box->view().messages[0].file;
  if (::rename(first.c_str(), (first + "F").c_str()) != 0) return 1;
  t0 = std::chrono::steady_clock::now();
  auto r = box->refresh();
  if (!r) return fail("refresh", r.error());
  std::printf("rescan (cur/ changed)     %8.1f ms  (%zu flag change found)\n", ms_since(t0), r->flags.size());

  struct stat st;
  if (::stat((md + "/" + kMailboxIndex).c_str(), &st) == 0)
    std::printf("index size                %8.1f MiB\n", static_cast<double>(st.st_size) / (1 << 20));
  if (temp) std::filesystem::remove_all(md);
  return 0;
}
