// local/fuzz_command.cc - libFuzzer target: the $name expansion of mailbox_command and
// luser_relay. The input is split at its first NUL into a pattern and a value given to
// every variable; the expansion must end, and no byte of the value that the filter
// refuses may reach the command line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "local/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postilion;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view pattern = in.substr(0, nul);
  std::string value(nul == std::string_view::npos ? std::string_view("a;b") : in.substr(nul + 1));
  local::ExpandVars vars;
  for (const char* name : {"user", "home", "shell", "recipient", "extension", "domain", "local", "sender",
                           "original_recipient"})
    vars[name] = value;
  for (const local::ClientFact& f : local::kClientFacts)
    if (f.var) vars[f.var] = value;
  vars["empty"] = "";
  const std::string_view* filter = &local::kCommandExpansionFilter;
  std::string out = local::expand_vars(pattern, vars, filter);
  // Every byte of the result comes from the pattern or from a filtered value: a byte
  // outside the filter that the pattern does not hold came from a value.
  for (char c : out)
    if (local::kCommandExpansionFilter.find(c) == std::string_view::npos && c != '_' &&
        pattern.find(c) == std::string_view::npos)
      __builtin_trap();
  // Each expansion adds at most one value per '$' of the pattern (nested text included).
  size_t dollars = 0;
  for (char c : pattern) dollars += c == '$';
  if (out.size() > pattern.size() + dollars * value.size()) __builtin_trap();
  (void)local::expand_vars(pattern, vars, nullptr);
  (void)local::filter_value(value);
  return 0;
}
