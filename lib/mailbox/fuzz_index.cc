// lib/mailbox/fuzz_index.cc - libFuzzer target: arbitrary bytes as the mailbox index
// of a small Maildir. The first byte picks the mode: record and header decoders on the
// rest, or the rest written as postilion-index.db and the folder refreshed (open,
// salvage, rebuild). Whatever the bytes, the refresh succeeds with unique UIDs.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "lib/base/file.h"
#include "lib/log/log.h"
#include "lib/mailbox/index_db.h"
#include "lib/mailbox/mailbox.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  using namespace postilion::mailbox;
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    if (auto r = index::decode_record(1, in)) {
      auto again = index::decode_record(1, index::encode(*r));
      if (!again || !(*again == *r)) __builtin_trap();
    }
    if (auto h = index::decode_header(in)) {
      if (index::encode(*h) != in) __builtin_trap();
    }
    return 0;
  }
  static std::string dir = [] {
    std::string t = (std::filesystem::temp_directory_path() / "pst-fuzz-index-XXXXXX").string();
    if (!::mkdtemp(t.data())) abort();
    for (const char* sub : {"/new", "/cur", "/tmp"}) ::mkdir((t + sub).c_str(), 0700);
    for (int i = 0; i < 3; ++i)
      if (!file::write_file_atomic(t + "/cur/m" + std::to_string(i) + ":2,S", "x\n", 0600)) abort();
    return t;
  }();
  // Registered after dir is built, so it runs before dir is destroyed.
  static bool cleanup = (std::atexit([] { std::filesystem::remove_all(dir); }), true);
  (void)cleanup;
  std::filesystem::remove(dir + "/" + kMailboxIndex);
  std::filesystem::remove(dir + "/" + std::string(kMailboxIndex) + ".corrupt");
  if (!file::write_file_atomic(dir + "/" + kMailboxIndex, in, 0600)) abort();
  auto box = Mailbox::open(dir);
  if (!box) abort();
  auto ch = box->refresh();
  if (!ch) __builtin_trap();
  std::set<uint32_t> uids;
  for (const auto& m : box->view().messages)
    if (!uids.insert(m.uid).second || m.uid >= box->view().next_uid) __builtin_trap();
  if (uids.size() != 3) __builtin_trap();
  return 0;
}
