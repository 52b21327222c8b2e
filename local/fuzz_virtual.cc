// local/fuzz_virtual.cc - libFuzzer target: arbitrary bytes as a virtual_mailbox_maps
// value (checked against a base), as a virtual_uid_maps / virtual_gid_maps value, and as
// a recipient address turned into lookup keys.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/mail/address.h"
#include "local/virtual.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // A mailbox path always stays below the base: no "." or ".." component, no control
  // character, and the folders to create are the path's own.
  if (auto m = local::virtual_mailbox("/srv/vmail", in)) {
    if (!m->path.starts_with("/srv/vmail/") || m->path.size() <= 11) __builtin_trap();
    std::string rest = "/" + m->path.substr(11);
    if (rest.find("/../") != std::string::npos || rest.find("/./") != std::string::npos ||
        rest.ends_with("/..") || rest.ends_with("/.") || rest.find("//") != std::string::npos)
      __builtin_trap();
    for (unsigned char c : m->path)
      if (c < 0x20 || c == 0x7f) __builtin_trap();
    if (m->maildir != (m->path.back() == '/')) __builtin_trap();
    std::string prefix = "/srv/vmail";
    for (const auto& p : m->parents) {
      prefix += "/" + p;
      if (!m->path.starts_with(prefix + "/")) __builtin_trap();
    }
  }
  // An accepted id is a plain number that reads back the same.
  if (auto id = local::parse_virtual_id(in)) {
    if (*id == 0xffffffffu) __builtin_trap();
    if (std::to_string(*id).size() > 10) __builtin_trap();
  }
  // Keys: the address first, "@domain" last, none longer than the input allows.
  auto keys = mail::virtual_lookup_keys(in, "+-");
  if (!keys.empty()) {
    if (keys.back().empty() || keys.back()[0] != '@') __builtin_trap();
    if (keys.size() > 3) __builtin_trap();
  }
  return 0;
}
