// lib/imap/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::imap { void placeholder() {} }
