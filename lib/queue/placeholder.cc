// lib/queue/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::queue { void placeholder() {} }
