// imapd/folders.h - IMAP mailbox names over a Maildir++ tree: INBOX is the Maildir
// itself, "Lists/postfix" is the folder ".Lists.postfix" beside its new/ and cur/, as
// Dovecot and Courier lay them out. Also the subscriptions file and the flag letters
// of Maildir file names. Kept in imapd/ until lib/imap and lib/mailbox carry them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"

namespace postilion::imapd {

// The folder of a valid UTF-8 mailbox name (lib/imap/mailbox_name.h): the Maildir
// itself for INBOX, else its Maildir++ folder.
std::string folder_path(const std::string& root, std::string_view name);
// Every folder below root, as UTF-8 mailbox names ("Lists/postfix"), sorted, INBOX not
// included.
std::vector<std::string> list_folders(const std::string& root);
// Makes the folder (tmp/, new/, cur/, maildirfolder); EEXIST when it is there.
Status create_folder(const std::string& path);
// \Sent, \Drafts... for the special-use names, "" for others.
std::string special_use(std::string_view name);
// The names created at login when missing.
inline const char* const kSpecialFolders[] = {"Drafts", "Sent", "Trash", "Junk", "Archive"};

// The subscriptions file in the Maildir (one name a line, as Dovecot keeps it).
std::vector<std::string> read_subscriptions(const std::string& root);
Status write_subscriptions(const std::string& root, const std::vector<std::string>& names);

// Flags: Maildir info letters <-> IMAP system flags. Unknown letters are kept.
std::string flags_to_imap(std::string_view letters, bool recent);
// Letter for a system flag ("\\Seen" -> 'S'); 0 for anything else.
char flag_letter(std::string_view flag);
// Letters sorted and unique (Maildir wants them in ASCII order).
std::string normalize_letters(std::string letters);

}  // namespace postilion::imapd
