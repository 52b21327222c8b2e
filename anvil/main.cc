// anvil/main.cc - anvil(8): counts connections per client address over all smtpd
// and pop3d processes (protocol in lib/ipc/protocols.h; table and clients' side in
// lib/ipc), so the smtpd_ and pop3d_client_connection_count_limit and _rate_limit
// hold however many processes master runs; and smtpd's message, recipient and AUTH
// rates per client for smtpd_client_message_rate_limit and the like. One unprivileged process, one event loop, on private/anvil.
// `anvil --standalone [-c DIR] [-s SOCKET] [-o name=value]...` runs it without master.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/config/config.h"
#include "lib/event/event.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/service/service.h"
#include "lib/ipc/anvil_table.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {"anvil_rate_time_unit", "queue_directory"};
constexpr size_t kMaxFrame = 4096;  // requests are small

class AnvilServer {
 public:
  AnvilServer(event::EventBase& base, int64_t unit_ms) : base_(base), table_(unit_ms), unit_ms_(unit_ms) {
    // Forget idle keys once per window, so a stream of one-off clients does not grow
    // the table without end.
    expire_ = event::Timer(base_, [this] { table_.expire(file::monotonic_ms()); });
    expire_.repeat(unit_ms_);
  }

  // on_end (optional) runs once when that client is gone.
  void accept(UniqueFd fd, std::function<void()> on_end) {
    uint64_t id = next_id_++;
    auto ch = std::make_unique<ipc::Channel>(base_, std::move(fd), kMaxFrame, -1);
    ch->on_message([this, id](ipc::Message&& m) { request(id, m); });
    ch->on_close([this, id](const std::string&) { drop(id); });
    ch->start();
    links_[id] = Link{std::move(ch), std::move(on_end)};
  }

 private:
  struct Link {
    std::unique_ptr<ipc::Channel> channel;
    std::function<void()> on_end;
  };

  void request(uint64_t id, const ipc::Message& m) {
    auto it = links_.find(id);
    if (it == links_.end()) return;
    auto r = ipc::parse_anvil_request(m);
    if (!r) {
      log::warn("anvil: bad request: %s; connection dropped", r.error().c_str());
      drop(id);
      return;
    }
    int64_t now = file::monotonic_ms();
    if (r->event) {
      it->second.channel->send(ipc::anvil_event_reply(table_.event(*r->event, r->key, now)));
      return;
    }
    if (!r->connect) {
      table_.disconnect(id, r->key);
      return;
    }
    auto counts = table_.connect(id, r->key, now);
    if (!counts.tracked && (full_warned_ms_ < 0 || now - full_warned_ms_ >= 60000)) {
      // Once a minute at most: the flood that fills the table would flood the log too.
      full_warned_ms_ = now;
      log::warn("anvil: table full (%zu clients); new clients are not counted until idle ones expire",
                table_.keys());
    }
    it->second.channel->send(ipc::anvil_reply(counts));
  }

  void drop(uint64_t id) {
    auto it = links_.find(id);
    if (it == links_.end()) return;
    table_.drop_link(id);
    it->second.channel->shutdown();
    base_.defer_delete(std::move(it->second.channel));
    auto on_end = std::move(it->second.on_end);
    links_.erase(it);
    if (on_end) on_end();
  }

  event::EventBase& base_;
  ipc::AnvilTable table_;
  int64_t unit_ms_;
  event::Timer expire_;
  std::map<uint64_t, Link> links_;
  uint64_t next_id_ = 1;
  int64_t full_warned_ms_ = -1;
};

int64_t unit_ms(const config::Config& cfg) {
  int64_t s = cfg.seconds("anvil_rate_time_unit");
  return (s > 0 ? s : 60) * 1000;
}

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "anvil", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kAnvilSocket;
  spec.socket_mode = 0666;
  spec.post_jail = [](service::Context& ctx) {
    ctx.keep(std::make_unique<AnvilServer>(ctx.loop(), unit_ms(ctx.config())));
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<AnvilServer>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  return service::run(argc, argv, spec);
}
