// lib/imap/bodystructure.cc - BODY / BODYSTRUCTURE builder.
#include "lib/imap/bodystructure.h"

#include "lib/imap/envelope.h"
#include "lib/imap/response.h"
#include "lib/mail/encoding.h"

namespace postilion::imap {
namespace {

void params(std::string& out, const std::vector<mail::MimeParam>& ps, bool text_default) {
  bool has_charset = false;
  for (const auto& p : ps) has_charset = has_charset || p.name == "charset";
  if (ps.empty() && !text_default) {
    out += "NIL";
    return;
  }
  out += '(';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ' ';
    first = false;
    append_string(out, name);
    out += ' ';
    append_string(out, value);
  };
  for (const auto& p : ps) {
    if (p.extended) {
      one(p.name + "*", p.charset + "'" + p.language + "'" + mail::percent_encode(p.value));
    } else {
      one(p.name, p.value);
    }
  }
  // A text part without a charset is us-ascii (RFC 2045 5.2), said last as Dovecot does.
  if (text_default && !has_charset) one("charset", "us-ascii");
  out += ')';
}

void nstr(std::string& out, const std::optional<std::string>& s) {
  if (s) append_string(out, *s);
  else out += "NIL";
}

void disposition(std::string& out, const mail::MimePart& p) {
  if (!p.disposition) {
    out += "NIL";
    return;
  }
  out += '(';
  append_string(out, *p.disposition);
  out += ' ';
  params(out, p.disposition_params, false);
  out += ')';
}

void languages(std::string& out, const mail::MimePart& p) {
  if (p.languages.empty()) {
    out += "NIL";
  } else if (p.languages.size() == 1) {
    append_string(out, p.languages[0]);
  } else {
    out += '(';
    for (size_t i = 0; i < p.languages.size(); ++i) {
      if (i) out += ' ';
      append_string(out, p.languages[i]);
    }
    out += ')';
  }
}

const char kEmptyText[] = "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";

void part(std::string& out, const mail::MimeTree& t, std::string_view m, size_t idx, bool ext) {
  const mail::MimePart& p = t.parts[idx];
  out += '(';
  if (p.is_multipart()) {
    if (p.children.empty()) {
      out += kEmptyText;
      out += ext ? " NIL NIL NIL NIL)" : ")";
    }
    for (size_t c : p.children) part(out, t, m, c, ext);
    out += ' ';
    append_string(out, p.subtype);
    if (ext) {
      out += ' ';
      params(out, p.params, false);
      out += ' ';
      disposition(out, p);
      out += ' ';
      languages(out, p);
      out += ' ';
      nstr(out, p.location);
    }
    out += ')';
    return;
  }
  append_string(out, p.type);
  out += ' ';
  append_string(out, p.subtype);
  out += ' ';
  params(out, p.params, p.type == "text");
  out += ' ';
  nstr(out, p.id);
  out += ' ';
  nstr(out, p.description);
  out += ' ';
  append_string(out, p.encoding.empty() ? std::string("7bit") : p.encoding);
  out += ' ';
  out += std::to_string(p.body_size());
  if (p.is_message()) {
    const mail::MimePart& inner = t.parts[p.children[0]];
    out += ' ';
    out += envelope(m.substr(inner.header_start, inner.body_start - inner.header_start));
    out += ' ';
    part(out, t, m, p.children[0], ext);
    out += ' ';
    out += std::to_string(p.body_lines);
  } else if (p.type == "text") {
    out += ' ';
    out += std::to_string(p.body_lines);
  }
  if (ext) {
    out += ' ';
    nstr(out, p.md5);
    out += ' ';
    disposition(out, p);
    out += ' ';
    languages(out, p);
    out += ' ';
    nstr(out, p.location);
  }
  out += ')';
}

}  // namespace

std::string body_structure(const mail::MimeTree& tree, std::string_view message, size_t idx,
                           bool extended) {
  std::string out;
  if (idx < tree.parts.size()) part(out, tree, message, idx, extended);
  return out;
}

std::string body_structure(const mail::MimeTree& tree, std::string_view message, bool extended) {
  return body_structure(tree, message, 0, extended);
}

}  // namespace postilion::imap
