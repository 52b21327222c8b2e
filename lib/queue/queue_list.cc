// lib/queue/queue_list.cc - mailq and JSON formatting of queue entries.
#include "lib/queue/queue_list.h"

#include <ctime>

#include "lib/base/strings.h"

namespace postilion::queue {

std::string format_mailq(const std::vector<QueueEntry>& entries) {
  if (entries.empty()) return "Mail queue is empty\n";
  std::string out = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n";
  uint64_t kbytes = 0;
  for (const auto& e : entries) {
    char flag = e.queue == "active" ? '*' : e.queue == "hold" ? '!' : ' ';
    time_t t = static_cast<time_t>(e.arrival);
    struct tm tm;
    localtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%a %b %e %H:%M:%S", &tm);
    std::string sender = e.sender.empty() ? "MAILER-DAEMON" : str::printable(e.sender, 200);
    out += str::format("%-10s%c%8llu %-20.20s %s\n", e.id.c_str(), flag,
                       static_cast<unsigned long long>(e.size), date, sender.c_str());
    std::string last_reason;
    for (const auto& r : e.recipients) {
      if (!r.reason.empty() && r.reason != last_reason) {
        out += "(" + str::printable(r.reason, 300) + ")\n";
        last_reason = r.reason;
      }
      out += std::string(41, ' ') + str::printable(r.address, 300) + "\n";
    }
    out += "\n";
    kbytes += (e.size + 1023) / 1024;
  }
  out += str::format("-- %llu Kbytes in %zu Request%s.\n", static_cast<unsigned long long>(kbytes),
                     entries.size(), entries.size() == 1 ? "" : "s");
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += str::format("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string format_json(const QueueEntry& e) {
  std::string out = "{\"queue_name\":" + json_string(e.queue) + ",\"queue_id\":" + json_string(e.id) +
                    ",\"arrival_time\":" + std::to_string(e.arrival) +
                    ",\"message_size\":" + std::to_string(e.size) + ",\"sender\":" + json_string(e.sender) +
                    ",\"recipients\":[";
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    if (i) out += ",";
    out += "{\"address\":" + json_string(e.recipients[i].address);
    if (!e.recipients[i].reason.empty()) out += ",\"delay_reason\":" + json_string(e.recipients[i].reason);
    out += "}";
  }
  return out + "]}";
}

}  // namespace postilion::queue
