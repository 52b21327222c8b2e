// smtpd/fuzz_content_checks.cc - fuzz target for the content inspector: the input is a
// message fed in pieces of every few sizes under tables that answer every line with one
// action. WARN and DUNNO must pass the content through byte for byte; IGNORE never makes
// it longer; nothing crashes or loops.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtpd/content_checks.h"

namespace {

postilion::maps::MapList table(const char* spec) {
  auto m = postilion::maps::MapList::open(spec);
  if (!m) std::abort();
  return std::move(m.value());
}

std::string run(std::string_view in, const char* spec, size_t piece) {
  auto t = table(spec);
  postilion::smtpd::ContentInspector inspector({&t, &t, &t, &t, 4096});
  std::string out;
  for (size_t i = 0; i < in.size(); i += piece) inspector.feed(in.substr(i, piece), &out);
  inspector.finish(&out);
  (void)inspector.take_events();
  (void)inspector.take_warnings();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (size_t piece : {size_t(1), size_t(7), size_t(4096)}) {
    if (run(in, "static:{WARN seen}", piece) != in) std::abort();
    if (run(in, "static:DUNNO", piece) != in) std::abort();
    if (run(in, "static:IGNORE", piece).size() > in.size()) std::abort();
    (void)run(in, "static:{PREPEND X-Fuzz: 1}", piece);
    (void)run(in, "static:{REPLACE X-Fuzz: 2}", piece);
    (void)run(in, "static:{REJECT 4.7.1 later}", piece);
    (void)run(in, "static:{BOGUS action}", piece);
  }
  return 0;
}
