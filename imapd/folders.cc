// imapd/folders.cc - IMAP names over lib/mailbox's folders, flag letters.
#include "imapd/folders.h"

#include <algorithm>
#include <optional>

#include "lib/base/strings.h"
#include "lib/imap/mailbox_name.h"
#include "lib/mailbox/folders.h"

namespace postilion::imapd {

std::string folder_path(const std::string& root, std::string_view name) {
  return mailbox::folder_path(root, imap::to_maildir(name));
}

std::vector<std::string> list_folders(const std::string& root) {
  std::vector<std::string> out;
  auto folders = mailbox::list_folders(root);
  if (!folders) return out;
  for (const auto& f : *folders) {
    auto name = imap::from_maildir(f.name);
    if (name && *name != "INBOX" && !imap::validate_name(*name, false)) out.push_back(*name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string special_use(std::string_view name) {
  std::string folder = imap::to_maildir(name);
  for (const auto& f : mailbox::special_use_folders())
    if (f.name == folder) return f.attribute;
  return "";
}

std::vector<std::string> subscribed(const std::string& root) {
  std::vector<std::string> out;
  auto subs = mailbox::subscriptions(root);
  if (!subs) return out;
  for (const auto& s : *subs) {
    auto name = str::iequals(s, "INBOX") ? std::optional<std::string>("INBOX") : imap::from_maildir("." + s);
    if (name && std::find(out.begin(), out.end(), *name) == out.end()) out.push_back(*name);
  }
  return out;
}

std::string flags_to_imap(std::string_view letters, bool recent) {
  std::string out;
  auto add = [&](const char* f) {
    if (!out.empty()) out += ' ';
    out += f;
  };
  for (char c : letters) {
    if (c == 'R') add("\\Answered");
    else if (c == 'D') add("\\Draft");
    else if (c == 'F') add("\\Flagged");
    else if (c == 'S') add("\\Seen");
    else if (c == 'T') add("\\Deleted");
  }
  if (recent) add("\\Recent");
  return "(" + out + ")";
}

char flag_letter(std::string_view f) {
  if (str::iequals(f, "\\Answered")) return 'R';
  if (str::iequals(f, "\\Draft")) return 'D';
  if (str::iequals(f, "\\Flagged")) return 'F';
  if (str::iequals(f, "\\Seen")) return 'S';
  if (str::iequals(f, "\\Deleted")) return 'T';
  return 0;
}

std::string normalize_letters(std::string letters) {
  std::sort(letters.begin(), letters.end());
  letters.erase(std::unique(letters.begin(), letters.end()), letters.end());
  return letters;
}

}  // namespace postilion::imapd
