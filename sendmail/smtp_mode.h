// sendmail/smtp_mode.h - `sendmail -bs`: SMTP on standard input and output, each
// message handed to a submit function (postdrop). A small, strict dialogue: HELO/EHLO,
// MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT; bounded line length and counts.
#pragma once

#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace postilion::sendmail {

// Queues one message; returns "" when queued (the id goes into the reply), or the
// reason it was not.
using Submit = std::function<std::string(const std::string& sender, const std::vector<std::string>& rcpts,
                                         const std::string& content, std::string* id)>;

// Runs the dialogue until QUIT or end of input. Returns 0 (EX_OK).
int smtp_session(std::istream& in, std::ostream& out, const std::string& myhostname, const Submit& submit,
                 size_t max_message = 10240000);

}  // namespace postilion::sendmail
