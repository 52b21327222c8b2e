// lib/smtp/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::smtp { void placeholder() {} }
