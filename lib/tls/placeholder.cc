// lib/tls/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::tls_ { void placeholder() {} }
