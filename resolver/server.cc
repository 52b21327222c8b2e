// resolver/server.cc - request parsing and in-order replies for private/resolver.
#include "resolver/server.h"

#include "lib/base/strings.h"
#include "lib/dns/protocol.h"
#include "lib/log/log.h"

namespace postilion::resolver {

void Server::accept(UniqueFd fd, std::function<void()> on_end) {
  uint64_t id = next_id_++;
  auto c = std::make_unique<Client>();
  c->on_end = std::move(on_end);
  c->channel = std::make_unique<ipc::Channel>(base_, std::move(fd), kMaxClientFrame, kClientIdleMs);
  c->channel->on_message([this, id](ipc::Message&& m) { request(id, std::move(m)); });
  c->channel->on_close([this, id](const std::string& why) {
    if (why != "closed") log::warn("resolver: client dropped: %s", why.c_str());
    drop(id, why);
  });
  c->channel->start();
  clients_[id] = std::move(c);
}

void Server::drop(uint64_t id, const std::string&) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  // Answers still in flight find no client and are discarded (complete()).
  it->second->channel->shutdown();
  base_.defer_delete(std::move(it->second->channel));
  auto on_end = std::move(it->second->on_end);
  clients_.erase(it);
  if (on_end) on_end();
}

void Server::request(uint64_t id, ipc::Message&& m) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (c.closing) return;
  if (c.replies.size() >= kMaxQueuedPerClient) {
    log::warn("resolver: client sends too many requests without reading replies; dropped");
    drop(id, "flood");
    return;
  }
  uint64_t seq = c.next_seq++;
  c.replies.emplace_back();
  auto bad = [&](const std::string& why) {
    log::warn("resolver: bad request: %s", why.c_str());
    ipc::Message r;
    r.set("status", "error").set("text", why);
    complete(id, seq, std::move(r));
    // Garbage ends the connection, but only after the error reply has been written:
    // poll the output buffer briefly, then drop in any case.
    c.closing = true;
    c.drain = event::Timer(base_, [this, id] {
      auto ci = clients_.find(id);
      if (ci == clients_.end()) return;
      Client& cl = *ci->second;
      if ((cl.replies.empty() && cl.channel->pending_output() == 0) || ++cl.drain_ticks > 100)
        drop(id, "bad request");
      else
        cl.drain.start(10);
    });
    c.drain.start(10);
  };
  std::string cmd = m.get_or("cmd", "");
  if (cmd == "nexthops") {
    auto domain = dns::normalize_name(m.get_or("domain", ""));
    if (!domain) return bad("bad domain " + str::printable(m.get_or("domain", ""), 100));
    std::string mx = m.get_or("mx", "yes");
    if (mx != "yes" && mx != "no") return bad("bad mx attribute");
    engine_.nexthops(*domain, mx == "yes", [this, id, seq](dns::Plan p) { complete(id, seq, dns::proto::encode_plan(p)); });
    return;
  }
  if (cmd == "query") {
    auto name = dns::normalize_name(m.get_or("name", ""));
    if (!name) return bad("bad name " + str::printable(m.get_or("name", ""), 100));
    auto type = dns::parse_rrtype(m.get_or("type", ""));
    if (!type || *type == dns::RrType::CNAME) return bad("bad type " + str::printable(m.get_or("type", ""), 20));
    dns::RrType t = *type;
    engine_.query(*name, t, [this, id, seq, t](const dns::Answer& a) {
      dns::proto::QueryReply r;
      r.outcome = a.outcome;
      r.security = a.security;
      r.ttl = a.ttl;
      r.canonical = a.canonical;
      r.text = a.why;
      for (const auto& rd : a.rdata)
        if (auto s = dns::present(t, rd)) r.records.push_back(std::move(*s));
      // Only malformed records: as good as none.
      if (r.outcome == dns::Outcome::Ok && r.records.empty()) r.outcome = dns::Outcome::NoData;
      complete(id, seq, dns::proto::encode_query_reply(r));
    });
    return;
  }
  if (cmd == "ptr") {
    std::string ip(m.get_or("addr", ""));
    if (!dns::reverse_name(ip)) return bad("bad addr " + str::printable(ip, 60));
    engine_.client_name(ip, [this, id, seq](dns::proto::ClientName c) {
      complete(id, seq, dns::proto::encode_client_name(c));
    });
    return;
  }
  bad("unknown cmd " + str::printable(cmd, 40));
}

void Server::complete(uint64_t id, uint64_t seq, ipc::Message reply) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (seq < c.first_seq || seq - c.first_seq >= c.replies.size()) return;
  c.replies[seq - c.first_seq] = std::move(reply);
  while (!c.replies.empty() && c.replies.front()) {
    c.channel->send(*c.replies.front());
    c.replies.pop_front();
    ++c.first_seq;
  }
}

}  // namespace postilion::resolver
