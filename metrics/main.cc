// metrics/main.cc - metrics(8): the Prometheus exporter. Daemons publish counters on
// private/metrics (lib/ipc/metrics.h: connections, TLS handshakes, messages received,
// smtpd's refusals, delivery outcomes and delays); this process adds them up, counts the
// queue folders when scraped, and serves the total as Prometheus's text format on
// `GET /metrics` at metrics_listen (off by default; loopback when set by init). One
// unprivileged process, one event loop.
// `metrics --standalone [-c DIR] [-s SOCKET] [-o name=value]...` runs it without master.
#include <dirent.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/event/buffer_event.h"
#include "lib/event/event.h"
#include "lib/event/listener.h"
#include "lib/ipc/channel.h"
#include "lib/ipc/metrics.h"
#include "lib/ipc/protocols.h"
#include "lib/log/log.h"
#include "lib/queue/spool.h"
#include "lib/service/service.h"

using namespace postilion;

namespace {

const std::vector<std::string_view> kParams = {"metrics_listen", "queue_directory"};
constexpr size_t kMaxFrame = 4096;       // events are small
constexpr size_t kMaxRequest = 8192;     // an HTTP request head
constexpr int kHttpTimeoutMs = 10000;
constexpr size_t kMaxHttpClients = 64;   // scrapers at once

// Regular files below dir, at most depth levels down (deferred/ and the others may be
// hashed into subfolders). Unreadable folders count what could be read.
size_t count_files(const std::string& dir, int depth) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    struct stat st;
    std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode)) ++n;
    else if (S_ISDIR(st.st_mode) && depth > 0) n += count_files(path, depth - 1);
  }
  ::closedir(d);
  return n;
}

class Exporter {
 public:
  Exporter(event::EventBase& base, std::string queue_dir, UniqueFd http_fd)
      : base_(base), queue_dir_(std::move(queue_dir)) {
    http_ = event::Listener(base_, std::move(http_fd), [this](UniqueFd fd, const sockaddr*, int) {
      http_client(std::move(fd));
    });
  }

  // A publisher on private/metrics; on_end runs once when it is gone.
  void accept(UniqueFd fd, std::function<void()> on_end) {
    uint64_t id = next_id_++;
    auto ch = std::make_unique<ipc::Channel>(base_, std::move(fd), kMaxFrame, -1);
    ch->on_message([this, id](ipc::Message&& m) { event(id, m); });
    ch->on_close([this, id](const std::string&) { drop(id); });
    ch->start();
    links_[id] = Link{std::move(ch), std::move(on_end)};
  }

 private:
  struct Link {
    std::unique_ptr<ipc::Channel> channel;
    std::function<void()> on_end;
  };

  void event(uint64_t id, const ipc::Message& m) {
    auto e = ipc::parse_metric(m);
    if (!e) {
      log::warn("metrics: bad event: %s; publisher dropped", str::printable(e.error()).c_str());
      drop(id);
      return;
    }
    if (!table_.apply(id, *e) && !full_warned_) {
      full_warned_ = true;
      log::warn("metrics: %zu series: new label combinations are dropped", table_.series());
    }
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

  // ---- HTTP: one request per connection ------------------------------------------
  void http_client(UniqueFd fd) {
    if (clients_.size() >= kMaxHttpClients) return;  // closed: the scraper retries
    uint64_t id = next_id_++;
    auto& bev = clients_[id] = event::BufferEvent(base_, std::move(fd));
    bev.set_timeouts(kHttpTimeoutMs, kHttpTimeoutMs);
    bev.set_callbacks([this, id] { http_read(id); },
                      [this, id] {
                        auto it = clients_.find(id);
                        if (it != clients_.end() && answered_.count(id) && it->second.output_length() == 0)
                          http_close(id);
                      },
                      [this, id](short) { http_close(id); });
    bev.enable(EV_READ | EV_WRITE);
  }

  void http_read(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end() || answered_.count(id)) return;
    auto& bev = it->second;
    std::string& head = heads_[id];
    head += bev.read(kMaxRequest + 1 - head.size());
    if (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
      if (head.size() > kMaxRequest) answer(id, "431 Request Header Fields Too Large", "request too large\n");
      return;
    }
    std::string line = head.substr(0, head.find_first_of("\r\n"));
    auto words = str::split(line, " ");
    if (words.size() != 3 || words[2].rfind("HTTP/1.", 0) != 0) return answer(id, "400 Bad Request", "bad request\n");
    if (words[0] != "GET" && words[0] != "HEAD") return answer(id, "405 Method Not Allowed", "GET only\n");
    std::string path = words[1].substr(0, words[1].find('?'));
    if (path == "/metrics") {
      scrape_queue();
      return answer(id, "200 OK", table_.render(), "text/plain; version=0.0.4; charset=utf-8", words[0] == "HEAD");
    }
    if (path == "/") return answer(id, "200 OK", "Postilion metrics: /metrics\n");
    answer(id, "404 Not Found", "not found\n");
  }

  void answer(uint64_t id, const std::string& status, const std::string& body,
              const std::string& type = "text/plain; charset=utf-8", bool head_only = false) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    answered_.insert({id, true});
    heads_.erase(id);
    it->second.write("HTTP/1.0 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + (head_only ? "" : body));
  }

  void http_close(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    auto bev = std::make_unique<event::BufferEvent>(std::move(it->second));
    bev->disable(EV_READ | EV_WRITE);
    base_.defer_delete(std::move(bev));
    clients_.erase(it);
    heads_.erase(id);
    answered_.erase(id);
  }

  void scrape_queue() {
    using F = queue::Folder;
    for (F f : {F::Maildrop, F::Incoming, F::Active, F::Deferred, F::Hold, F::Corrupt})
      table_.set("postilion_queue_messages", {{"queue", queue::folder_name(f)}},
                 static_cast<double>(count_files(file::join(queue_dir_, queue::folder_name(f)), 2)));
  }

  event::EventBase& base_;
  std::string queue_dir_;
  ipc::MetricsTable table_;
  event::Listener http_;
  std::map<uint64_t, Link> links_;
  std::map<uint64_t, event::BufferEvent> clients_;
  std::map<uint64_t, std::string> heads_;
  std::map<uint64_t, bool> answered_;
  uint64_t next_id_ = 1;
  bool full_warned_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  service::Spec spec{.name = "metrics", .kind = service::Kind::Stream};
  spec.params = &kParams;
  spec.socket = ipc::proto::kMetricsSocket;
  spec.socket_mode = 0600;
  // The HTTP listener is bound before the jail (metrics_listen may name a port below
  // 1024) and served after it.
  static UniqueFd http_fd;
  spec.pre_jail = [](service::Context& ctx) {
    std::string listen = ctx.config().str("metrics_listen");
    if (listen.empty())
      throw config::ConfigError("metrics_listen is empty: set it (e.g. 127.0.0.1:9154) to run metrics(8)");
    std::string label;
    http_fd = service::required(event::listen_inet_spec(listen, &label), "metrics_listen");
    log::info("metrics: serving /metrics on %s", label.c_str());
  };
  spec.post_jail = [](service::Context& ctx) {
    ctx.keep(std::make_unique<Exporter>(ctx.loop(), ctx.config().str("queue_directory"), std::move(http_fd)));
  };
  spec.on_accept = [](service::Context& ctx, UniqueFd fd) {
    ctx.get<Exporter>().accept(std::move(fd), [&ctx] { ctx.session_end(); });
  };
  return service::run(argc, argv, spec);
}
