// imapd/search.cc - SEARCH and UID SEARCH (RFC 3501 6.4.4): lib/imap parses the keys
// and matches them; this file shows it the selected mailbox's messages.
#include "imapd/folders.h"
#include "imapd/imap_session.h"
#include "lib/imap/search.h"
#include "lib/log/log.h"

namespace postilion::imapd {

// One message of the selected mailbox as the matcher sees it.
class Session::View : public imap::MessageView {
 public:
  View(Session& s, Msg& m, uint32_t seq) : s_(s), m_(m), seq_(seq) {}
  uint32_t seq() const override { return seq_; }
  uint32_t uid() const override { return m_.uid; }
  bool has_flag(std::string_view flag) const override {
    char l = flag_letter(flag);
    return l && m_.letters.find(l) != std::string::npos;
  }
  bool recent() const override { return m_.recent; }
  uint64_t size() const override { return m_.vsize; }
  int64_t internal_date() const override { return s_.internal_date(m_); }
  std::string_view message() override {
    auto t = s_.content(m_);
    if (!t) return {};
    return s_.cached_;
  }

 private:
  Session& s_;
  Msg& m_;
  uint32_t seq_;
};

void Session::cmd_search(imap::Command& c, bool uid) {
  auto parsed = imap::parse_search(c.args, 0);
  if (auto* e = std::get_if<imap::SearchError>(&parsed)) {
    if (e->bad_charset) return no(c, "[BADCHARSET (UTF-8 US-ASCII)] " + e->text);
    return bad(c, e->text);
  }
  const auto& prog = std::get<imap::SearchProgram>(parsed);
  if (prog.has_return) return bad(c, "SEARCH RETURN needs ESEARCH, which is not offered");
  imap::SearchContext ctx;
  ctx.max_seq = static_cast<uint32_t>(msgs_.size());
  ctx.max_uid = msgs_.empty() ? 0 : msgs_.back().uid;
  ctx.now = static_cast<int64_t>(::time(nullptr));
  std::string hits;
  for (size_t i = 0; i < msgs_.size(); ++i) {
    Msg& m = msgs_[i];
    if (m.gone) continue;
    View v(*this, m, static_cast<uint32_t>(i + 1));
    if (imap::match(prog.key, v, ctx)) hits += " " + std::to_string(uid ? m.uid : i + 1);
  }
  out("* SEARCH" + hits + "\r\n");
  ok(c, "SEARCH completed");
}

}  // namespace postilion::imapd
