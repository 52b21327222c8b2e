// pop3d/transaction.h - the TRANSACTION and UPDATE states of a POP3 session (RFC 1939
// sections 5 and 6) over the view of one Maildir taken at login (the mailbox index: no
// message is read to list them). No I/O besides the mailbox: a command goes in, the
// reply bytes come out. Deletions are only marks until quit(); a session that ends any
// other way (dropped connection, crash, timeout) deletes nothing. Other sessions (POP3
// or IMAP) may change the folder meanwhile: a message they removed is reported as such
// on RETR and is no error at QUIT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/mailbox/mailbox.h"
#include "lib/pop3/command.h"

namespace postilion::pop3d {

struct TransactionStats {
  uint64_t retr = 0, retr_bytes = 0, top = 0, deleted = 0, expunged = 0;
};

class Transaction {
 public:
  // box has been refreshed: its view() is the maildrop for the whole session.
  Transaction(mailbox::Mailbox box, uint64_t size_limit);

  // The reply to one parsed command. Sets *quit when the session is over (QUIT: the
  // reply already reports how the UPDATE went).
  std::string handle(const pop3::Command& cmd, bool* quit);

  size_t count() const;   // messages not marked deleted
  uint64_t octets() const;
  // UIDL of message i (0-based): UID and UIDVALIDITY as 16 hex digits, so the value
  // changes exactly when IMAP clients must forget their UIDs too.
  std::string uidl(size_t i) const;
  const TransactionStats& stats() const { return stats_; }

 private:
  // The message for a 1-based number, or the -ERR reply in *err.
  const mailbox::Message* find(uint64_t n, std::string* err) const;
  std::string retr(uint64_t n, std::optional<uint64_t> top);
  std::string update();

  const std::vector<mailbox::Message>& messages() const { return snap_.messages; }

  mailbox::Mailbox box_;
  mailbox::Snapshot snap_;  // the view at login; box_'s own view changes at QUIT
  std::vector<bool> deleted_;
  uint64_t size_limit_;
  TransactionStats stats_;
};

}  // namespace postilion::pop3d
