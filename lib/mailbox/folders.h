// lib/mailbox/folders.h - the Maildir++ folders of one user's Maildir: list, create,
// delete, rename, the subscriptions file, and the special-use folders.
// Names are on-disk Maildir++ names: "" or "INBOX" for the Maildir itself, ".Sent",
// ".Lists.postfix" (a folder per level separated by '.'); the IMAP name mapping
// (modified UTF-7, '/') lives in lib/imap. A name is valid when it starts with '.',
// has no empty level, no '/', no control character and no ".." (valid_folder()).
// Errors: environment failures as Result errors with errno (EEXIST: the folder exists,
// ENOENT: it does not, EINVAL: bad name, EPERM: INBOX cannot be deleted or renamed).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"

namespace postilion::mailbox {

inline constexpr const char* kSubscriptionsFile = "subscriptions";

bool valid_folder(std::string_view name);
// The folder's directory: root for "" / "INBOX", root + "/" + name otherwise.
std::string folder_path(const std::string& root, std::string_view name);

struct FolderInfo {
  std::string name;        // ".Sent"
  bool has_children = false;
};
// Every folder (directory whose name is a valid folder holding cur/), sorted by name;
// the INBOX itself not included.
Result<std::vector<FolderInfo>> list_folders(const std::string& root);
// Makes the folder with tmp/, new/, cur/ and the `maildirfolder` marker file. Parents
// need not exist (Maildir++ has no intermediate directories). EEXIST when it exists.
Status create_folder(const std::string& root, std::string_view name);
// Removes the folder and its messages (its children stay: they are separate folders).
Status delete_folder(const std::string& root, std::string_view name);
// Renames the folder and every child (".A" -> ".B" takes ".A.x" to ".B.x"); EEXIST when
// the target or one of the renamed children's targets exists. Subscriptions follow.
Status rename_folder(const std::string& root, std::string_view from, std::string_view to);

// The subscriptions file (one folder name per line, without the leading '.', as
// Courier and Dovecot's Maildir++ keep it; Dovecot's "V\t2" header is read too).
Result<std::vector<std::string>> subscriptions(const std::string& root);
Status subscribe(const std::string& root, std::string_view name);
Status unsubscribe(const std::string& root, std::string_view name);

// The special-use folders (RFC 6154) a first login makes: .Drafts, .Sent, .Trash,
// .Junk, .Archive, created and subscribed when missing. Returns (folder, attribute)
// pairs, e.g. (".Sent", "\\Sent").
struct SpecialUse {
  std::string name;
  std::string attribute;
};
const std::vector<SpecialUse>& special_use_folders();
Status ensure_special_folders(const std::string& root);

}  // namespace postilion::mailbox
