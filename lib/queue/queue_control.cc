// lib/queue/queue_control.cc - listing and admin operations on the queue.
#include "lib/queue/queue_control.h"

#include <unistd.h>

#include <algorithm>

#include "lib/base/file.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace postilion::queue {
namespace {

const char* const kListed[] = {"maildrop", "incoming", "active", "deferred", "hold"};

}  // namespace

std::vector<QueueEntry> list_queue(SpoolStore& store) {
  std::vector<QueueEntry> out;
  for (const char* q : kListed) {
    for (const auto& id : store.list(q)) {
      bool corrupt = false;
      auto m = store.load(q, id, &corrupt);
      if (!m) continue;
      QueueEntry e;
      e.id = id;
      e.queue = q;
      e.size = m->size;
      e.arrival = m->arrival;
      e.sender = m->sender;
      DeferInfo info = store.defer_info(id);
      for (const auto& r : m->recipients) {
        if (r.done) continue;
        auto it = info.reasons.find(r.address);
        e.recipients.push_back({r.address, it == info.reasons.end() ? "" : it->second});
      }
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const QueueEntry& a, const QueueEntry& b) { return a.id < b.id; });
  return out;
}

bool matches(const QueueEntry& e, const std::string& sel) {
  if (sel == "ALL" || sel == e.id) return true;
  if (sel.find('@') == std::string::npos) return false;
  if (str::iequals(e.sender, sel)) return true;
  for (const auto& r : e.recipients)
    if (str::iequals(r.address, sel)) return true;
  return false;
}

ControlResult control(SpoolStore& store, Operation op, const std::string& selector) {
  ControlResult res;
  for (const auto& e : list_queue(store)) {
    if (!matches(e, selector) || e.queue == "maildrop") continue;
    Status st;
    switch (op) {
      case Operation::Hold:
        if (e.queue == "hold") continue;
        st = store.move(e.id, e.queue, "hold");
        if (st) log::info("%s: placed on hold", e.id.c_str());
        break;
      case Operation::Release:
        if (e.queue != "hold") continue;
        st = store.move(e.id, "hold", "deferred");
        if (st) st = store.set_next_try(e.id, 0);
        if (st) log::info("%s: released from hold", e.id.c_str());
        break;
      case Operation::Requeue:
        if (e.queue != "deferred" && e.queue != "hold") continue;
        st = store.move(e.id, e.queue, "incoming");
        if (st) log::info("%s: requeued", e.id.c_str());
        break;
      case Operation::Delete:
        st = store.remove(e.queue, e.id);
        if (st) {
          store.drop_defer_info(e.id);
          log::info("%s: removed", e.id.c_str());
        }
        break;
    }
    if (st) res.done.push_back(e.id);
    else res.errors.push_back(e.id + ": " + st.error().str());
  }
  return res;
}

}  // namespace postilion::queue
