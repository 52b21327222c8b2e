// lib/maps/placeholder.cc - keeps the archive non-empty until this concern has code.
namespace postilion::maps { void placeholder() {} }
