// lib/service/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::service { void placeholder() {} }
