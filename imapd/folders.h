// imapd/folders.h - IMAP mailbox names over the Maildir++ tree of lib/mailbox/folders.h:
// INBOX is the Maildir itself, "Lists/postfix" is the folder ".Lists.postfix" beside its
// new/ and cur/, as Dovecot and Courier lay them out (the name mapping is lib/imap's
// to_maildir/from_maildir). Also the flag letters of Maildir file names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postilion::imapd {

// The folder of a valid UTF-8 mailbox name (lib/imap/mailbox_name.h): the Maildir
// itself for INBOX, else its Maildir++ folder.
std::string folder_path(const std::string& root, std::string_view name);
// Every folder below root, as UTF-8 mailbox names ("Lists/postfix"), sorted, INBOX not
// included; empty when root cannot be read.
std::vector<std::string> list_folders(const std::string& root);
// \Sent, \Drafts... for the special-use folders (lib/mailbox), "" for others.
std::string special_use(std::string_view name);
// The subscribed mailboxes as UTF-8 names (the file keeps Maildir++ names, as Courier
// and Dovecot do).
std::vector<std::string> subscribed(const std::string& root);

// Flags: Maildir info letters <-> IMAP system flags. Unknown letters are kept.
std::string flags_to_imap(std::string_view letters, bool recent);
// Letter for a system flag ("\\Seen" -> 'S'); 0 for anything else.
char flag_letter(std::string_view flag);
// Letters sorted and unique (Maildir wants them in ASCII order).
std::string normalize_letters(std::string letters);

}  // namespace postilion::imapd
