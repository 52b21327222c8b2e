// lib/ipc/fuzz_message.cc - libFuzzer target: arbitrary bytes through the frame decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/ipc/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  ipc::Decoder d(4096);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Feed in two pieces to exercise the incremental path.
  d.feed(in.substr(0, size / 2));
  ipc::Message m;
  std::string why;
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
  }
  d.feed(in.substr(size / 2));
  while (d.next(&m, &why) == ipc::Decoder::Status::Ready) {
    // A decoded message must encode to a frame that decodes to the same attributes.
    ipc::Decoder again;
    again.feed(m.encode());
    ipc::Message back;
    if (again.next(&back, &why) != ipc::Decoder::Status::Ready || back.attrs() != m.attrs())
      __builtin_trap();
  }
  return 0;
}
