// imapd/folders.cc - Maildir++ names, subscriptions, flag letters.
#include "imapd/folders.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/imap/mailbox_name.h"

namespace postilion::imapd {

std::string folder_path(const std::string& root, std::string_view name) {
  if (name == "INBOX") return root;
  return root + "/" + imap::to_maildir(name);
}

std::vector<std::string> list_folders(const std::string& root) {
  std::vector<std::string> out;
  DIR* d = ::opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() < 2 || n[0] != '.' || n == "..") continue;
    struct stat st;
    if (::stat((root + "/" + n + "/cur").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    auto name = imap::from_maildir(n);
    if (name && *name != "INBOX" && !imap::validate_name(*name, false)) out.push_back(*name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Status create_folder(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) return Error::from_errno("mkdir " + path);
  for (const char* sub : {"/tmp", "/new", "/cur"}) {
    std::string p = path + sub;
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + p);
  }
  return file::write_file_atomic(path + "/maildirfolder", "", 0600);
}

std::string special_use(std::string_view name) {
  for (const char* n : kSpecialFolders)
    if (name == n) return std::string("\\") + n;
  return "";
}

std::vector<std::string> read_subscriptions(const std::string& root) {
  std::vector<std::string> out;
  auto text = file::read_file(root + "/subscriptions", 1 << 20);
  if (!text) return out;
  for (auto& line : str::split_exact(*text, '\n'))
    if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end()) out.push_back(line);
  return out;
}

Status write_subscriptions(const std::string& root, const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += n + "\n";
  return file::write_file_atomic(root + "/subscriptions", text, 0600);
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
