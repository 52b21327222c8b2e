// lib/testing/fuzz_replay.cc - replays a fuzz target's corpus under `make check`.
// Each fuzz_<parser>.cc defines LLVMFuzzerTestOneInput; linked with this main it
// feeds every file of FUZZ_CORPUS (a compile-time path) through that entry point, so
// the corpus is a regression test even without clang. A crash fails the test.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#ifndef FUZZ_CORPUS
#error FUZZ_CORPUS must name the corpus folder
#endif

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : FUZZ_CORPUS;
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++n;
  }
  const char* prog = std::strrchr(argv[0], '/');
  prog = prog ? prog + 1 : argv[0];
  if (ec || n == 0) {
    std::printf("%s: no corpus in %s\n%s: tests=1 failures=1\n", prog, dir.c_str(), prog);
    return 1;
  }
  std::printf("%s: replayed %zu inputs\n%s: tests=1 failures=0\n", prog, n, prog);
  return 0;
}
