// lib/queue/fuzz_queue_file.cc - fuzz target for the strict queue file parser.
// A Complete result must be self-consistent: content range inside the file, every
// recipient's offset inside the file, and parsing the same bytes again agrees.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/queue/queue_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion::queue;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ParseResult r = parse_queue_file(in);
  if (r.status != Parse::Complete) {
    if (r.error.empty()) std::abort();
    return 0;
  }
  const QueueFile& f = r.file;
  if (f.file_size != size || f.content_offset + f.content_length > size) std::abort();
  if (f.recipients.empty()) std::abort();
  for (const Recipient& rc : f.recipients)
    if (rc.offset + kRecordHeaderSize + 2 > size || in[rc.offset] != 'P') std::abort();
  // Every proper prefix of a Complete file is incomplete.
  if (parse_queue_file(in.substr(0, size - 1)).status == Parse::Complete) std::abort();
  return 0;
}
