// lib/base/parsed.h - Parsed<T, Why>: what a parser of untrusted input (a peer, a queue
// file, a maildrop file, the command line) returns: the value, or why the input is
// bad - a value, never an exception. Why is what the caller needs to refuse it: the
// protocol's reply (smtp::Reply), or a text for -ERR, BAD or a log line.
// Environment failures are Result<T> (lib/base/result.h), bugs PANIC.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace postilion {

template <class T, class Why = std::string>
class [[nodiscard]] Parsed {
 public:
  Parsed(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  // Bad input; implicit where a Why cannot be taken for a T (`return reply(501, ...)`).
  Parsed(Why why)
    requires(!std::is_same_v<T, Why>)
      : v_(std::in_place_index<1>, std::move(why)) {}
  static Parsed bad(Why why) { return Parsed(Bad{}, std::move(why)); }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Why the input was refused (only when !ok()).
  const Why& error() const { return std::get<1>(v_); }

 private:
  struct Bad {};
  Parsed(Bad, Why why) : v_(std::in_place_index<1>, std::move(why)) {}
  std::variant<T, Why> v_;
};

}  // namespace postilion
