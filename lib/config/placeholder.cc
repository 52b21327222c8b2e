// lib/config/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::config { void placeholder() {} }
