// lib/queue/delivery_request.cc - qmgr's delivery request: its writer and its one reader.
#include "lib/queue/delivery_request.h"

#include "lib/base/strings.h"
#include "lib/mail/dsn.h"
#include "lib/queue/queue_id.h"

namespace postilion::queue {

ipc::Message encode_delivery_request(const DeliveryRequest& r) {
  ipc::Message m;
  m.set("cmd", "deliver").set("id", r.id).set("file", r.file).set("sender", r.sender).set("nexthop", r.nexthop);
  if (r.report_expanded) m.set("report", "expanded");
  for (const auto& rc : r.rcpts) {
    m.set("rcpt", rc.address).set("orcpt", rc.orcpt);
    m.set("offset", rc.offset ? std::to_string(*rc.offset) : std::string());
  }
  return m;
}

Result<DeliveryRequest> parse_delivery_request(const ipc::Message& m) {
  if (m.get_or("cmd", "") != "deliver") return Error("unknown command", EPROTO);
  DeliveryRequest r;
  r.id = m.get_or("id", "");
  r.file = m.get_or("file", "");
  if (!valid_id(r.id) || r.file != "active/" + r.id) return Error("bad id or file", EPROTO);
  auto rcpts = m.get_all("rcpt");
  auto orcpts = m.get_all("orcpt");
  auto offsets = m.get_all("offset");
  if (rcpts.empty() || rcpts.size() != offsets.size() || rcpts.size() != orcpts.size())
    return Error("recipients, orcpts and offsets do not match", EPROTO);
  r.sender = m.get_or("sender", "");
  r.nexthop = m.get_or("nexthop", "");
  // qmgr says whether it takes per-destination reports of a partly bounced expansion;
  // an older one gets the whole recipient bounced.
  r.report_expanded = m.get_or("report", "") == "expanded";
  r.rcpts.reserve(rcpts.size());
  for (size_t i = 0; i < rcpts.size(); ++i) {
    DeliveryRequest::Rcpt rc;
    rc.address = std::string(rcpts[i]);
    rc.orcpt = std::string(orcpts[i]);
    rc.offset = str::parse_uint(offsets[i]);
    r.rcpts.push_back(std::move(rc));
  }
  return r;
}

const Recipient* record_for(const QueueFile& f, const DeliveryRequest::Rcpt& r) {
  if (!r.offset) return nullptr;
  for (const auto& rec : f.recipients)
    if (rec.offset == *r.offset) return &rec;
  return nullptr;
}

std::string original_recipient(const DeliveryRequest::Rcpt& r, const Recipient* record) {
  std::string o = mail::orcpt_address(r.orcpt);
  if (!o.empty()) return o;
  if (record && !record->address.empty()) return record->address;
  return r.address;
}

}  // namespace postilion::queue
