// lib/mailbox/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::mailbox { void placeholder() {} }
