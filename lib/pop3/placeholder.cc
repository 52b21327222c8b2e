// lib/pop3/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::pop3 { void placeholder() {} }
