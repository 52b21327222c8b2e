// lib/base/strings.h - small string helpers shared by every concern.
// None of these throw on bad input: parse_* return std::nullopt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postilion::str {

std::string_view trim(std::string_view s);
std::string lower(std::string_view s);
std::string upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// Splits on any of the separator characters; empty fields are dropped.
std::vector<std::string> split(std::string_view s, std::string_view seps = " \t,");
// Splits on exactly one character, keeping empty fields.
std::vector<std::string> split_exact(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

std::optional<int64_t> parse_int(std::string_view s);
std::optional<uint64_t> parse_uint(std::string_view s);

// A character of a $name (main.conf parameters, local(8)'s delivery variables):
// ASCII letter, digit or '_'.
bool name_char(char c);
// The index of the bracket that closes the '{' or '(' at text[open], nested pairs
// counted; npos when there is none.
size_t closing_bracket(std::string_view text, size_t open);

// Escapes control characters, backslashes and non-ASCII bytes as \ooo, so a
// peer's text is safe to put into a log line.
std::string printable(std::string_view s, size_t max_len = 400);

// Text for a header field of a message that a person reads (Return-Path,
// Delivered-To): the bytes as they came - the UTF-8 of an SMTPUTF8 address included -
// with only control characters, which could end or fold the field, escaped as \ooo;
// at most max_len bytes, cut before a UTF-8 sequence that would not fit.
std::string header_text(std::string_view s, size_t max_len = 998);

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Base64 (RFC 4648); decode returns nullopt on bad input.
std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace postilion::str
