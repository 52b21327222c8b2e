// lib/base/result.h - Result<T>: a value, or an environment error (errno + context).
// Used for failures of the environment (disk full, EIO, refused, SERVFAIL); bad input
// from peers is a value of its own, and bugs PANIC.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace postilion {

class Error {
 public:
  Error() = default;
  explicit Error(std::string what, int err = 0) : what_(std::move(what)), errno_(err) {}

  // An error from the current errno: "context: strerror(errno)".
  static Error from_errno(const std::string& context) {
    int e = errno;
    return Error(context + ": " + std::strerror(e), e);
  }

  const std::string& str() const { return what_; }
  const char* c_str() const { return what_.c_str(); }
  int code() const { return errno_; }
  // True when retrying later may help (the default for environment errors).
  bool temporary() const { return temporary_; }
  Error& set_permanent() {
    temporary_ = false;
    return *this;
  }

 private:
  std::string what_;
  int errno_ = 0;
  bool temporary_ = true;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success, or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace postilion
