// lib/mail/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::mail { void placeholder() {} }
