// lib/event/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::event { void placeholder() {} }
