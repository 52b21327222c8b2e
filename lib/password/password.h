// lib/password/password.h - password hashes in crypt(3) form: making one (for
// `postilionctl user hash` and the virtual-user file) and checking a password against
// one (auth(8)). yescrypt ("$y$") by default; SHA-512-crypt ("$6$") and the other
// methods libcrypt knows are verified too. Passwords are never logged or kept.
#pragma once

#include <string>
#include <string_view>

#include "lib/base/result.h"

namespace postilion::password {

// A new hash of password with a fresh random salt. prefix selects the method: "$y$"
// (yescrypt), "$6$" (SHA-512-crypt), "$2b$" (bcrypt). Errors: unknown method, no entropy.
Result<std::string> hash_password(std::string_view password, std::string_view prefix = "$y$");

// True when password matches hash. False for locked or malformed hashes ("!", "*",
// "", "x"), for a NUL in the password, and when crypt(3) fails. The comparison of the
// computed hash takes the same time wherever the first difference is.
bool verify_password(std::string_view password, const std::string& hash);

}  // namespace postilion::password
