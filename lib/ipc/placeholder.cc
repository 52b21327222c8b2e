// lib/ipc/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::ipc { void placeholder() {} }
