// showq/server.cc - requests, replies and the flush hand-over of showq(8).
#include "showq/server.h"

#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/queue/showq_protocol.h"

namespace postilion::showq {

void Server::accept(UniqueFd fd, std::function<void()> on_end) {
  uint64_t id = next_id_++;
  auto c = std::make_unique<Client>();
  c->on_end = std::move(on_end);
  c->channel = std::make_unique<ipc::Channel>(base_, std::move(fd), queue::kShowqMaxRequest, kShowqIdleMs);
  c->channel->on_message([this, id](ipc::Message&& m) { request(id, std::move(m)); });
  c->channel->on_close([this, id](const std::string& why) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    // A client that goes away once it has its answer is the normal end.
    if (why != "closed" && !it->second->answered) log::warn("showq: client dropped: %s", why.c_str());
    drop(id);
  });
  c->channel->start();
  clients_[id] = std::move(c);
}

void Server::request(uint64_t id, ipc::Message&& m) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (c.asked) {
    // One request per connection: the first is answered, the rest is ignored, and
    // the connection ends once the answer is out.
    log::warn("showq: client sent more than one request; ignored");
    return;
  }
  c.asked = true;
  auto req = queue::parse_showq_request(m);
  if (!req) {
    log::warn("showq: bad request: %s", req.error().c_str());
    answer(id, {queue::showq_error_reply("bad request: " + req.error())});
  } else if (*req == queue::ShowqRequest::List) {
    auto text = lister_();
    if (!text) {
      log::warn("showq: cannot list the queue: %s", text.error().c_str());
      answer(id, {queue::showq_error_reply("cannot list the queue: " + text.error().str())});
    } else {
      answer(id, queue::showq_listing_reply(*text));
    }
  } else {
    flush(id);
  }
}

void Server::flush(uint64_t id) {
  auto ch = ipc::Channel::connect(base_, qmgr_socket_, 4096, kShowqIdleMs);
  if (!ch) {
    log::warn("showq: flush: cannot reach qmgr: %s", ch.error().c_str());
    answer(id, {queue::showq_error_reply("cannot reach qmgr: " + ch.error().str())});
    return;
  }
  // qmgr's answer, or the end of that connection, settles the client's request once.
  auto settle = [this, id](const ipc::Message* reply, const std::string& why) {
    auto it = clients_.find(id);
    if (it == clients_.end() || !it->second->qmgr) return;
    Client& c = *it->second;
    c.qmgr->shutdown();
    base_.defer_delete(std::move(c.qmgr));
    if (reply && reply->get_or("status", "") == "ok") {
      ipc::Message ok;
      ok.set("status", "ok");
      answer(id, {ok});
      return;
    }
    std::string text = reply ? "qmgr refused the flush" : "qmgr ended the connection: " + why;
    log::warn("showq: flush: %s", text.c_str());
    answer(id, {queue::showq_error_reply(text)});
  };
  ipc::Channel* raw = ch->get();
  raw->on_message([settle](ipc::Message&& m) { settle(&m, ""); });
  raw->on_close([settle](const std::string& why) { settle(nullptr, why); });
  raw->start();
  ipc::Message req;
  req.set("cmd", "flush");
  raw->send(req);
  clients_[id]->qmgr = std::move(*ch);
}

void Server::answer(uint64_t id, const std::vector<ipc::Message>& frames) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  for (const auto& f : frames) c.channel->send(f);
  c.answered = true;
  // The connection ends once the reply is written (or the idle time has passed); a
  // client that reads it and closes first ends it sooner.
  c.drain = event::Timer(base_, [this, id] { drained(id); });
  c.drain.start(0);
}

void Server::drained(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (c.channel->pending_output() == 0 || ++c.drain_ticks > kShowqIdleMs / 10) {
    drop(id);
    return;
  }
  c.drain.start(10);
}

void Server::drop(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  std::unique_ptr<Client> c = std::move(it->second);
  clients_.erase(it);
  c->channel->shutdown();
  if (c->qmgr) c->qmgr->shutdown();
  c->drain.stop();
  auto on_end = std::move(c->on_end);
  // drop() may run inside a callback of this client's channel or timer: the client
  // is destroyed later, outside them.
  base_.defer_delete(std::move(c));
  if (on_end) on_end();
}

}  // namespace postilion::showq
