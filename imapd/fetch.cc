// imapd/fetch.cc - FETCH and STORE (RFC 3501 6.4.5, 6.4.6): message attributes,
// ENVELOPE, BODY/BODYSTRUCTURE, BODY[section]<partial>, and flag changes. Parsing,
// the structures and the sections are lib/imap's; this file applies them to the
// selected mailbox.
#include <algorithm>

#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "lib/base/strings.h"
#include "lib/imap/args.h"
#include "lib/imap/bodystructure.h"
#include "lib/imap/datetime.h"
#include "lib/imap/envelope.h"
#include "lib/imap/fetch.h"
#include "lib/imap/response.h"
#include "lib/imap/section.h"
#include "lib/log/log.h"
#include "lib/mail/mime.h"

namespace postilion::imapd {

void Session::cmd_fetch(imap::Command& c, bool uid) {
  if (c.args.size() < 2) return bad(c, "FETCH wants a sequence set and items");
  auto set = imap::parse_set_arg(c.args[0]);
  if (auto* e = imap::parse_error(set)) return bad(c, *e);
  auto parsed = imap::parse_fetch(c.args, 1);
  if (auto* e = std::get_if<std::string>(&parsed)) return bad(c, *e);
  const auto& req = std::get<imap::FetchRequest>(parsed);
  if (req.changedsince) return bad(c, "CHANGEDSINCE needs CONDSTORE, which is not offered");
  // What the items need: the message file, or only what the index keeps (flags, UID,
  // date, size) and caches (ENVELOPE, BODY, BODYSTRUCTURE, the header fields clients list
  // folders with). A cached value is computed once from the file, stored, and served from
  // the index afterwards: messages never change in a Maildir, and an expunge drops its cache.
  using K = imap::FetchItem::Kind;
  using mailbox::CacheField;
  bool want_uid = uid, want_flags = false, sets_seen = false, needs_text = false;
  std::vector<CacheField> fields;  // the cached fields the items use
  auto want = [&](CacheField f) {
    if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
  };
  for (const auto& it : req.items) {
    if (it.kind == K::Binary || it.kind == K::BinarySize || it.kind == K::ModSeq)
      return bad(c, "FETCH " + it.response_name() + " is not offered");
    want_uid = want_uid || it.kind == K::Uid;
    want_flags = want_flags || it.kind == K::Flags;
    sets_seen = sets_seen || it.sets_seen();
    if (it.kind == K::Envelope) {
      want(CacheField::Envelope);
    } else if (it.kind == K::Body) {
      want(CacheField::Body);
    } else if (it.kind == K::BodyStructure) {
      want(CacheField::BodyStructure);
    } else if (it.kind == K::Section && imap::answered_from_cached_headers(it.section)) {
      want(CacheField::Headers);
    } else if (!(it.kind == K::Flags || it.kind == K::Uid || it.kind == K::InternalDate ||
                 it.kind == K::Rfc822Size)) {
      needs_text = true;
    }
  }
  std::vector<size_t> idx;
  std::string why;
  if (!resolve_set(std::get<imap::SequenceSet>(set), uid, &idx, &why)) return bad(c, why);
  bool failed = false;
  // In batches, so a FETCH 1:* of a large mailbox holds a bounded part of the cache in
  // memory and takes the index lock once per batch.
  constexpr size_t kBatch = 256;
  for (size_t from = 0; from < idx.size(); from += kBatch) {
    size_t to = std::min(idx.size(), from + kBatch);
    std::vector<uint32_t> uids;
    for (size_t k = from; k < to; ++k) uids.push_back(msgs_[idx[k]].uid);
    // cached[f][k - from]: the value the index holds, if any.
    std::vector<std::vector<std::optional<std::string>>> cached(fields.size());
    for (size_t f = 0; f < fields.size(); ++f) {
      auto got = box_->cache_get(uids, fields[f]);
      if (!got) {
        log::warn("%s: mailbox cache: %s", label_.c_str(), got.error().c_str());
        got = std::vector<std::optional<std::string>>(uids.size());
      }
      cached[f] = std::move(*got);
    }
    std::vector<mailbox::CacheValue> fresh;  // values computed now, stored after the batch
    for (size_t k = from; k < to; ++k) {
      size_t i = idx[k];
      Msg& m = msgs_[i];
      if (m.gone) {
        failed = true;
        continue;
      }
      bool read = needs_text;
      for (const auto& v : cached) read = read || !v[k - from];
      std::string_view text;
      mail::MimeTree tree;
      if (read) {
        auto t = content(m);
        if (!t) {
          if (t.error().code() != ENOENT) log::warn("%s: %s", label_.c_str(), t.error().c_str());
          failed = true;
          continue;
        }
        text = cached_;
        tree = mail::parse_mime(text);
        ++stats_.files_read;
      }
      const auto& root = tree.parts.empty() ? mail::MimePart() : tree.root();
      std::string_view header = text.substr(0, std::min(root.body_start, text.size()));
      // The value of cached field f for this message: from the index, or made now.
      auto value = [&](CacheField f) -> const std::string& {
        size_t n = static_cast<size_t>(std::find(fields.begin(), fields.end(), f) - fields.begin());
        auto& v = cached[n][k - from];
        if (!v) {
          switch (f) {
            case CacheField::Envelope: v = imap::envelope(header); break;
            case CacheField::Body: v = imap::body_structure(tree, text, false); break;
            case CacheField::BodyStructure: v = imap::body_structure(tree, text, true); break;
            default: v = imap::cached_header_value(header); break;
          }
          fresh.push_back({m.uid, f, *v});
        }
        return *v;
      };
      bool flags_changed = false;
      if (sets_seen && !read_only_ && m.letters.find('S') == std::string::npos)
        flags_changed = set_letters(m, m.letters + "S");
      imap::FetchResponse r(static_cast<uint32_t>(i + 1));
      if (want_uid) r.add("UID", std::to_string(m.uid));
      for (const auto& it : req.items) {
        std::string_view data;
        std::optional<std::string> section;
        switch (it.kind) {
          case K::Uid:
            continue;
          case K::Flags:
            r.add("FLAGS", flags_of(m));
            continue;
          case K::InternalDate:
            r.add("INTERNALDATE", "\"" + imap::format_date_time({internal_date(m), 0}) + "\"");
            continue;
          case K::Rfc822Size:
            r.add("RFC822.SIZE", std::to_string(m.vsize));
            continue;
          case K::Envelope:
            r.add("ENVELOPE", value(CacheField::Envelope));
            continue;
          case K::Body:
            r.add(it.response_name(), value(CacheField::Body));
            continue;
          case K::BodyStructure:
            r.add(it.response_name(), value(CacheField::BodyStructure));
            continue;
          case K::Rfc822:
            data = text;
            break;
          case K::Rfc822Header:
            data = header;
            break;
          case K::Rfc822Text:
            data = text.substr(header.size());
            break;
          case K::Section:
            // A section that names no part is an empty string (RFC 3501, as Dovecot).
            if (imap::answered_from_cached_headers(it.section))
              section = imap::header_fields(value(CacheField::Headers), it.section.fields, false);
            else
              section = imap::extract_section(tree, text, it.section);
            data = section ? std::string_view(*section) : std::string_view();
            if (it.partial_offset) data = imap::partial(data, *it.partial_offset, it.partial_length);
            break;
          default:
            continue;
        }
        imap::append_literal(r.begin_item(it.response_name()), data);
        stats_.fetched_bytes += data.size();
      }
      if (flags_changed && !want_flags) r.add("FLAGS", flags_of(m));
      out(r.finish());
      ++stats_.fetched;
    }
    if (auto st = box_->cache_put(fresh); !st)
      log::warn("%s: mailbox cache: %s", label_.c_str(), st.error().c_str());
  }
  if (failed) return no(c, "some of the messages no longer exist");
  ok(c, "FETCH completed");
}

void Session::cmd_store(imap::Command& c, bool uid) {
  if (c.args.size() < 3) return bad(c, "STORE wants a sequence set, an item and flags");
  auto set = imap::parse_set_arg(c.args[0]);
  if (auto* e = imap::parse_error(set)) return bad(c, *e);
  auto parsed = imap::parse_store(c.args, 1);
  if (auto* e = imap::parse_error(parsed)) return bad(c, *e);
  const auto& req = std::get<imap::StoreRequest>(parsed);
  if (req.unchangedsince) return bad(c, "UNCHANGEDSINCE needs CONDSTORE, which is not offered");
  if (read_only_) return no(c, "[READ-ONLY] the mailbox is read-only");
  // Keywords are not kept yet (PERMANENTFLAGS lists no \*); \Recent cannot be stored.
  std::string letters;
  for (const auto& f : req.flags)
    if (char l = flag_letter(f)) letters += l;
  std::vector<size_t> idx;
  std::string why;
  if (!resolve_set(std::get<imap::SequenceSet>(set), uid, &idx, &why)) return bad(c, why);
  bool failed = false;
  const std::string system = "DFRST";
  for (size_t i : idx) {
    Msg& m = msgs_[i];
    if (m.gone) {
      failed = true;
      continue;
    }
    std::string next;
    if (req.mode == imap::StoreRequest::Mode::Replace) {
      // Letters that are no IMAP system flag (P, keywords) stay.
      for (char l : m.letters)
        if (system.find(l) == std::string::npos) next += l;
      next += letters;
    } else if (req.mode == imap::StoreRequest::Mode::Add) {
      next = m.letters + letters;
    } else {
      for (char l : m.letters)
        if (letters.find(l) == std::string::npos) next += l;
    }
    if (!set_letters(m, next)) {
      failed = true;
      continue;
    }
    ++stats_.stored;
    if (!req.silent) {
      imap::FetchResponse r(static_cast<uint32_t>(i + 1));
      if (uid) r.add("UID", std::to_string(m.uid));
      r.add("FLAGS", flags_of(m));
      out(r.finish());
    }
  }
  if (failed) return no(c, "some of the messages no longer exist");
  ok(c, "STORE completed");
}

}  // namespace postilion::imapd
