// smtpd/session.h - one SMTP conversation: an explicit state machine driven by the
// bytes the client sends. Parsing lives in lib/smtp; the session decides, replies
// (batched for PIPELINING: all replies to the commands in one read go out in one
// write) and streams the message into a queue file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/unique_fd.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/ipc/anvil_table.h"
#include "lib/ipc/channel.h"
#include "lib/queue/queue_writer.h"
#include "lib/smtp/command.h"
#include "lib/smtp/data_reader.h"
#include "lib/smtp/reply.h"
#include "lib/milter/session.h"
#include "lib/tls/tls.h"
#include "smtpd/policy.h"
#include "smtpd/policy_service.h"
#include "lib/ipc/service_link.h"

namespace postilion::smtpd {

// The milter client is lib/milter's (qmgr's pickup runs it too); smtpd gives it its
// settings (milter_stages.cc).
using milter::MilterConfig;
using milter::MilterMessage;
using milter::MilterSession;
using milter::MilterVerdict;
// The milter_* settings with the session's filters (smtpd_milters, or what
// smtpd_milter_maps chose for the client).
MilterConfig milter_config(const Settings& s, const std::vector<std::string>& filters);

class Server;

// The reply to a command over its client's event rate limit, as Postfix words it:
// "450 4.7.1 Error: too much mail from 192.0.2.7".
// who: the client's IP address, or the SASL login for a user event.
smtp::Reply event_limit_reply(ipc::AnvilEvent kind, const std::string& who);

class Session {
 public:
  enum class State {
    Connect,    // before the greeting: waiting for the client name and admit()
    Ready,      // commands; the transaction state is in mail_ / rcpts_
    Data,       // reading DATA content
    Bdat,       // reading a BDAT chunk
    AuthLine,   // waiting for a SASL response line
    AuthWait,   // asking the auth service
    Checks,     // a restriction waits for a DNS answer from the resolver
    Limits,     // MAIL, RCPT or AUTH waits for anvil's count of it (smtpd/limits.cc)
    TlsSwitch,  // 220 sent for STARTTLS, waiting for it to go out
    Milter,     // a mail filter stage runs (lib/milter/session.h)
    Commit,     // the queue file is being made durable
    Closing,    // last reply going out
  };

  Session(Server& server, uint64_t id, UniqueFd fd, std::string ip, bool in_mynetworks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sets the connection up and asks for the client's name; the greeting goes out once
  // the name is known (or not) and the server has admitted the client.
  void start();
  void admit();
  // Over a connection limit: 421 4.7.0 with why, then the end.
  void refuse(const std::string& why);
  const std::string& client_ip() const { return facts_.ip; }
  std::string label() const { return facts_.label(); }
  // The anvil ticket of this session (0: not counted; lib/ipc/anvil_client.h).
  void set_anvil_ticket(uint64_t t) { anvil_ticket_ = t; }
  uint64_t anvil_ticket() const { return anvil_ticket_; }

 private:
  struct CommandSpec {
    smtp::Verb verb;
    void (Session::*handler)(std::string_view arg);
  };
  static const CommandSpec kCommands[];

  // I/O
  void on_read();
  void on_write();
  void on_event(short what);
  void process();
  void flush();
  void send(const smtp::Reply& r);
  void close_after_reply(const smtp::Reply& r);
  void finish(const char* why);
  bool suspended() const;
  void suspend();
  void resume();
  void error_delay_done();
  void lookup_name();
  void name_known(const ipc::Message* reply);
  void greet();
  void send_greeting();

  // commands
  void handle_line(std::string_view line);
  void cmd_helo(std::string_view arg);
  void cmd_ehlo(std::string_view arg);
  void cmd_mail(std::string_view arg);
  void cmd_rcpt(std::string_view arg);
  void cmd_data(std::string_view arg);
  void data_checked(const smtp::Reply& r);  // after smtpd_data_restrictions
  void data_refused(const char* stage, const smtp::Reply& r);
  void start_data();  // 354, then the content
  void cmd_bdat(std::string_view arg);
  void bdat_chunk(const smtp::Bdat& b, smtp::Reply refuse);
  void cmd_rset(std::string_view arg);
  void cmd_noop(std::string_view arg);
  void cmd_quit(std::string_view arg);
  void cmd_vrfy(std::string_view arg);
  void cmd_expn(std::string_view arg);
  void cmd_help(std::string_view arg);
  void cmd_starttls(std::string_view arg);
  void cmd_auth(std::string_view arg);

  // AUTH
  void auth_line(std::string_view line);
  void auth_check(const std::string& user, const std::string& password);
  void auth_done(const std::string& status, const std::string& text);

  // STARTTLS / TLS
  void switch_to_tls();
  // Starts switch_to_tls() from the loop, after the current callback.
  void switch_to_tls_soon();
  void tls_established();

  // restriction lists (smtpd/restrictions.h): then() gets the verdict (empty: go on),
  // at once or after the DNS answers it needed.
  void run_checks(CheckStage stage, std::optional<std::string> sender, std::function<void(const smtp::Reply&)> then);
  // The checks of one recipient (Policy::check_rcpt) at RCPT, or VRFY's share of them.
  void run_rcpt_checks(const smtp::Path& rcpt, bool vrfy, std::function<void(const smtp::Reply&)> then);
  void continue_checks();
  // Asks the resolver; false when the answer is already in dns_memo_ (no resolver).
  bool ask_dns(const DnsQuestion& q);
  void dns_answered(const DnsQuestion& q, const ipc::Message* m);
  // check_policy_service: asks the server over the session's connection to it.
  void ask_policy(const PolicyQuestion& q);
  void policy_answered(const PolicyQuestion& q, Result<std::string> action);
  void checks_prepare();  // the facts a policy server is told, the memo cleared
  void rcpt_checked(const smtp::RcptTo& t, const smtp::Reply& r);

  // per-client event rate limits (smtpd/limits.cc): then() gets the 450 reply when the
  // client is over the limit of kind (empty: go on), at once or after anvil answered.
  void check_event_limit(ipc::AnvilEvent kind, std::function<void(const smtp::Reply&)> then);
  // The client's limit of kind, then the SASL login's limit of user_kind (when logged in).
  void check_event_limits(ipc::AnvilEvent kind, ipc::AnvilEvent user_kind, std::function<void(const smtp::Reply&)> then);
  void event_counted(ipc::AnvilEvent kind, int limit, int rate);
  void mail_checked(smtp::MailFrom m, const smtp::Reply& r);

  // mail filters (lib/milter/session.h, smtpd/milter_stages.cc): start() runs a stage with
  // the Done it is given; then() gets its verdict, at once or after the filters answered.
  void milter_stage(std::function<void(MilterSession::Done)> start, std::function<void(const MilterVerdict&)> then);
  void milter_answered(const MilterVerdict& v);
  void milter_refuse(const smtp::Reply& r);
  std::optional<std::string> milter_macro(std::string_view name) const;
  // smtpd_milter_maps for this client: *filters replaced when the table has the client's
  // address (an empty list for DISABLE); false (and a warning logged) when the table
  // cannot be read or the value is not a list of filters.
  bool milter_map_filters(std::vector<std::string>* filters);
  void milter_log(const char* action, const char* stage, const std::string& text, const std::string& to = "");
  void milter_message();
  void milter_helo(const char* verb, const smtp::Reply& ok);
  void milter_message_done(const MilterVerdict& v);
  // A new queue file with the filters' edits (headers, body, sender, recipients), in
  // incoming/ or, quarantined, in hold/; it replaces writer_. Empty: done.
  smtp::Reply rebuild_queue_file(bool hold);

  // the message
  smtp::Reply transaction_check() const;
  smtp::Reply open_queue_file();
  Status write_envelope(queue::QueueWriter& w);
  void commit_queue_file();
  void content(std::string_view bytes);
  // Content through the header/body checks (when any are set), then to content().
  void inspect(std::string_view bytes, bool final);
  void log_inspection();
  // The end of DATA when a check rejected or discarded the message (true: replied).
  bool inspection_verdict();
  // REDIRECT: the queue file written again with `to` as its only recipient.
  Status redirect_to(const std::string& to);
  void flush_content(bool final);
  void end_of_message(smtp::DataError err);
  void committed(Result<std::string> id);
  void reset_transaction();
  std::string received_header() const;
  std::string protocol() const;
  void reject_log(const char* stage, const smtp::Reply& r, const std::string& to = "");
  // Counts a refusal for metrics(8): stage as logged (RCPT, DATA, END-OF-MESSAGE, ...).
  void count_reject(std::string_view stage, const smtp::Reply& r);
  void watch_request();
  void junk_command();
  void count_error();

  Server& server_;
  uint64_t id_;
  ClientFacts facts_;
  event::BufferEvent bev_;
  event::Timer tls_timer_;
  event::Timer data_timer_;  // smtpd_data_timeout over one DATA transfer
  event::Timer request_timer_;  // smtpd_per_request_deadline over one command line
  State state_ = State::Connect;
  bool admitted_ = false;
  bool name_done_ = false;
  uint64_t anvil_ticket_ = 0;
  std::function<void(const smtp::Reply&)> limit_then_;  // waiting for anvil's count
  smtp::Reply limit_reply_;
  bool limit_inline_ = false;           // inside AnvilClient::event()
  bool limit_answered_inline_ = false;  // ... which answered at once
  std::unique_ptr<ipc::ServiceLink> name_link_;  // the client name lookup, while it runs
  bool tls_ = false;
  tls::Info tls_info_;
  std::string in_;        // input not yet processed
  size_t in_pos_ = 0;
  std::string out_;       // replies not yet written (PIPELINING batches them)
  smtp::LineReader lines_;
  int errors_ = 0;
  int junk_ = 0;  // NOOP, RSET, VRFY since the last message (smtpd_junk_command_limit)
  // Past smtpd_soft_error_limit each error reply waits smtpd_error_sleep_time on this
  // timer; meanwhile nothing is read, processed or written for this session only.
  bool error_delayed_ = false;
  event::Timer error_timer_;
  bool esmtp_ = false;
  bool got_helo_ = false;
  std::string last_command_ = "CONNECT";
  std::map<std::string, int> counts_;  // per command, for the disconnect line
  int total_commands_ = 0;

  // restriction checks
  DnsMemo dns_memo_;
  std::unique_ptr<ipc::ServiceLink> dns_link_;  // the DNS lookup that runs, if one does
  CheckStage checks_stage_ = CheckStage::Rcpt;
  std::optional<std::string> checks_sender_;    // the sender the checks see (none before MAIL)
  std::optional<smtp::Path> checks_rcpt_;       // the recipient, for run_rcpt_checks()
  bool checks_vrfy_ = false;
  std::function<void(const smtp::Reply&)> checks_then_;
  std::map<std::string, std::unique_ptr<PolicyClient>> policy_clients_;  // by server
  bool dns_inline_ = false;           // inside ServiceLink::call(): an answer now is no wait
  bool dns_answered_inline_ = false;

  // mail filters
  std::unique_ptr<MilterSession> milters_;
  std::optional<MilterVerdict> milter_connect_refusal_;  // the connect stage's reject or tempfail
  std::function<void(const MilterVerdict&)> milter_then_;
  MilterVerdict milter_verdict_;
  bool milter_inline_ = false;
  bool milter_answered_inline_ = false;
  std::unique_ptr<MilterMessage> milter_msg_;
  std::string milter_mail_arg_, milter_rcpt_arg_, milter_rcpt_addr_;
  bool milter_data_done_ = false;  // the DATA stage ran (not for BDAT: at the end)
  bool commit_to_hold_ = false;
  std::string local_ip_;
  int local_port_ = 0, client_port_ = 0;

  // AUTH
  std::string sasl_method_, sasl_user_, auth_user_pending_;
  int auth_step_ = 0;
  std::unique_ptr<ipc::Channel> auth_channel_;
  event::Timer auth_timer_;

  // the transaction
  std::optional<smtp::MailFrom> mail_;
  struct Rcpt {
    std::string address;
    std::string orcpt;
    unsigned notify = 0;
  };
  std::vector<Rcpt> rcpts_;
  bool bdat_started_ = false;
  bool bdat_last_ = false;
  smtp::Reply bdat_refusal_;  // a chunk read only to be refused
  std::optional<smtp::DataReader> data_;
  smtp::ChunkReader chunk_;
  std::unique_ptr<queue::QueueWriter> writer_;
  bool write_failed_ = false;
  std::string write_error_;
  std::string content_;         // content not yet handed to the writer
  bool headers_pending_ = false;  // holding the header section to add Message-ID/Date
  std::unique_ptr<ContentInspector> inspector_;  // header_checks etc., when set
  uint64_t message_size_ = 0;
  int64_t message_start_us_ = 0;
};

}  // namespace postilion::smtpd
