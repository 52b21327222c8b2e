// lib/mailbox/folders.cc - Maildir++ folders, subscriptions, special-use folders.
#include "lib/mailbox/folders.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "lib/base/file.h"
#include "lib/base/strings.h"

namespace postilion::mailbox {
namespace {

bool is_inbox(std::string_view name) { return name.empty() || str::iequals(name, "INBOX"); }

bool is_dir(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The subscriptions file's name for a folder: without the leading '.'.
std::string sub_name(std::string_view folder) {
  return std::string(folder.substr(0, 1) == "." ? folder.substr(1) : folder);
}

Status write_subscriptions(const std::string& root, const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += n + "\n";
  return file::write_file_atomic(root + "/" + kSubscriptionsFile, text, 0600);
}

Status remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Error("remove " + path + ": " + ec.message(), ec.value());
  return {};
}

}  // namespace

bool valid_folder(std::string_view name) {
  if (name.size() < 2 || name.size() > 1024 || name[0] != '.') return false;
  if (name.back() == '.') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '/') return false;
    if (c == '.' && i + 1 < name.size() && name[i + 1] == '.') return false;  // empty level, ".."
  }
  return true;
}

std::string folder_path(const std::string& root, std::string_view name) {
  if (is_inbox(name)) return root;
  return root + "/" + std::string(name);
}

Result<std::vector<FolderInfo>> list_folders(const std::string& root) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(root.c_str()), ::closedir);
  if (!d) return Error::from_errno("open " + root);
  std::vector<FolderInfo> out;
  for (;;) {
    errno = 0;  // readdir() reports an error only through errno
    dirent* e = ::readdir(d.get());
    if (!e) break;
    std::string name = e->d_name;
    if (!valid_folder(name) || !is_dir(root + "/" + name + "/cur")) continue;
    out.push_back(FolderInfo{name, false});
  }
  if (errno != 0) return Error::from_errno("read " + root);
  std::sort(out.begin(), out.end(), [](const FolderInfo& a, const FolderInfo& b) { return a.name < b.name; });
  // Sorted by name, a folder's children follow it (".A" < ".A.x"), though not always
  // right after it (".A-b" sorts between): look ahead for the first "<name>." entry.
  for (size_t i = 0; i < out.size(); ++i) {
    std::string prefix = out[i].name + ".";
    auto it = std::lower_bound(out.begin(), out.end(), prefix,
                               [](const FolderInfo& f, const std::string& p) { return f.name < p; });
    out[i].has_children = it != out.end() && it->name.compare(0, prefix.size(), prefix) == 0;
  }
  return out;
}

Status create_folder(const std::string& root, std::string_view name) {
  if (!valid_folder(name)) return Error("bad folder name: " + str::printable(name, 100), EINVAL);
  std::string dir = folder_path(root, name);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Error(dir + ": folder exists", EEXIST);
    return Error::from_errno("mkdir " + dir);
  }
  for (const char* sub : {"/tmp", "/new", "/cur"}) {
    std::string p = dir + sub;
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + p);
  }
  // Courier's marker: deliveries into a folder (not the INBOX) look for it.
  auto marker = file::open(dir + "/maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW, 0600);
  if (!marker) return marker.error();
  return file::fsync_dir(root);
}

Status delete_folder(const std::string& root, std::string_view name) {
  if (is_inbox(name)) return Error("the INBOX cannot be deleted", EPERM);
  if (!valid_folder(name)) return Error("bad folder name: " + str::printable(name, 100), EINVAL);
  std::string dir = folder_path(root, name);
  if (!is_dir(dir)) return Error(dir + ": no such folder", ENOENT);
  // Renamed out of sight first: a reader never sees a half-deleted folder, and a crash
  // leaves a dot-dot name list_folders() skips.
  std::string trash = root + "/.." + std::string(name.substr(1)) + ".deleted." + std::to_string(::getpid());
  if (::rename(dir.c_str(), trash.c_str()) != 0) return Error::from_errno("rename " + dir);
  if (auto st = file::fsync_dir(root); !st) return st;
  (void)unsubscribe(root, name);
  return remove_tree(trash);
}

Status rename_folder(const std::string& root, std::string_view from, std::string_view to) {
  if (is_inbox(from) || is_inbox(to)) return Error("the INBOX cannot be renamed", EPERM);
  if (!valid_folder(from) || !valid_folder(to)) return Error("bad folder name", EINVAL);
  std::string f(from), t(to);
  if (t.compare(0, f.size() + 1, f + ".") == 0) return Error("cannot rename a folder into itself", EINVAL);
  if (!is_dir(folder_path(root, f))) return Error(folder_path(root, f) + ": no such folder", ENOENT);
  auto all = list_folders(root);
  if (!all) return all.error();
  std::vector<std::pair<std::string, std::string>> moves{{f, t}};
  for (const auto& fi : *all)
    if (fi.name.compare(0, f.size() + 1, f + ".") == 0) moves.emplace_back(fi.name, t + fi.name.substr(f.size()));
  for (const auto& [a, b] : moves)
    if (file::exists(folder_path(root, b))) return Error(folder_path(root, b) + ": folder exists", EEXIST);
  for (const auto& [a, b] : moves) {
    std::string src = folder_path(root, a), dst = folder_path(root, b);
    if (::rename(src.c_str(), dst.c_str()) != 0) return Error::from_errno("rename " + src);
  }
  if (auto st = file::fsync_dir(root); !st) return st;
  // Subscriptions follow the folders.
  auto subs = subscriptions(root);
  if (!subs) return subs.error();
  bool changed = false;
  for (auto& s : *subs) {
    for (const auto& [a, b] : moves) {
      if (s == sub_name(a)) {
        s = sub_name(b);
        changed = true;
        break;
      }
    }
  }
  return changed ? write_subscriptions(root, *subs) : Status{};
}

Result<std::vector<std::string>> subscriptions(const std::string& root) {
  auto text = file::read_file(root + "/" + kSubscriptionsFile, 4u << 20);
  std::vector<std::string> out;
  if (!text) {
    if (text.error().code() == ENOENT) return out;
    return text.error();
  }
  std::string_view t = *text;
  bool first = true;
  while (!t.empty()) {
    size_t nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Dovecot's version-2 header line.
    if (first && line.substr(0, 2) == "V\t") {
      first = false;
      continue;
    }
    first = false;
    if (line.empty() || line.size() > 1024) continue;
    std::string name(line);
    for (char& c : name)
      if (c == '\t') c = '.';  // Dovecot 2 separates levels with a tab
    if (!valid_folder("." + name) && !str::iequals(name, "INBOX")) continue;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

Status subscribe(const std::string& root, std::string_view name) {
  if (!is_inbox(name) && !valid_folder(name)) return Error("bad folder name", EINVAL);
  auto subs = subscriptions(root);
  if (!subs) return subs.error();
  std::string n = is_inbox(name) ? "INBOX" : sub_name(name);
  if (std::find(subs->begin(), subs->end(), n) != subs->end()) return {};
  subs->push_back(n);
  return write_subscriptions(root, *subs);
}

Status unsubscribe(const std::string& root, std::string_view name) {
  auto subs = subscriptions(root);
  if (!subs) return subs.error();
  std::string n = is_inbox(name) ? "INBOX" : sub_name(name);
  auto it = std::find(subs->begin(), subs->end(), n);
  if (it == subs->end()) return {};
  subs->erase(it);
  return write_subscriptions(root, *subs);
}

const std::vector<SpecialUse>& special_use_folders() {
  static const std::vector<SpecialUse> kFolders = {
      {".Drafts", "\\Drafts"}, {".Sent", "\\Sent"},       {".Trash", "\\Trash"},
      {".Junk", "\\Junk"},     {".Archive", "\\Archive"},
  };
  return kFolders;
}

Status ensure_special_folders(const std::string& root) {
  for (const auto& f : special_use_folders()) {
    if (is_dir(folder_path(root, f.name) + "/cur")) continue;
    if (auto st = create_folder(root, f.name); !st && st.error().code() != EEXIST) return st;
    if (auto st = subscribe(root, f.name); !st) return st;
  }
  return {};
}

}  // namespace postilion::mailbox
