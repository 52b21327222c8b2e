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
      one(p.name_as_written.empty() ? p.name : p.name_as_written, p.value);
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
  append_string(out, p.disposition_as_written.empty() ? *p.disposition : p.disposition_as_written);
  out += ' ';
  params(out, p.disposition_params, false);
  out += ')';
}

void languages(std::string& out, const mail::MimePart& p) {
  // Always the list form, as Dovecot writes it.
  if (p.languages.empty()) {
    out += "NIL";
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
const char kEmptyEnvelope[] = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

const std::string& written(const std::string& as_written, const std::string& lower) {
  return as_written.empty() ? lower : as_written;
}

void part(std::string& out, const mail::MimeTree& t, std::string_view m, size_t idx, bool ext,
          bool rev2) {
  const mail::MimePart& p = t.parts[idx];
  out += '(';
  if (p.is_multipart()) {
    if (p.children.empty()) {
      out += kEmptyText;
      out += ext ? " NIL NIL NIL NIL)" : ")";
    }
    for (size_t c : p.children) part(out, t, m, c, ext, rev2);
    out += ' ';
    append_string(out, written(p.subtype_as_written, p.subtype));
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
  append_string(out, written(p.type_as_written, p.type));
  out += ' ';
  append_string(out, written(p.subtype_as_written, p.subtype));
  out += ' ';
  params(out, p.params, p.type == "text");
  out += ' ';
  nstr(out, p.id);
  out += ' ';
  nstr(out, p.description);
  out += ' ';
  append_string(out, p.encoding.empty() ? std::string("7bit") : p.encoding_as_written);
  out += ' ';
  out += std::to_string(p.body_size());
  // message/rfc822 always has an envelope and a body in the grammar; message/global only
  // in IMAP4rev2 (RFC 9051), rev1 clients read it as a basic part.
  bool msg = p.type == "message" && (p.subtype == "rfc822" || (rev2 && p.subtype == "global"));
  if (msg && p.is_message()) {
    const mail::MimePart& inner = t.parts[p.children[0]];
    out += ' ';
    out += envelope(m.substr(inner.header_start, inner.body_start - inner.header_start));
    out += ' ';
    part(out, t, m, p.children[0], ext, rev2);
    out += ' ';
    out += std::to_string(p.body_lines);
  } else if (msg) {
    // Not parsed (an encoded or cut-off message): an empty one, as Dovecot writes it.
    out += ' ';
    out += kEmptyEnvelope;
    out += ' ';
    out += kEmptyText;
    out += ext ? " NIL NIL NIL NIL)" : ")";
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
                           bool extended, bool rev2) {
  std::string out;
  if (idx < tree.parts.size()) part(out, tree, message, idx, extended, rev2);
  return out;
}

std::string body_structure(const mail::MimeTree& tree, std::string_view message, bool extended,
                           bool rev2) {
  return body_structure(tree, message, 0, extended, rev2);
}

}  // namespace postilion::imap
