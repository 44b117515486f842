#include "trace_sink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "labyrinth/ebpf/kallsyms.hpp"

namespace labyrinth::ebpf {

void TraceSink::replay_buffered() {
  buffering_ = false;
  for (auto& item : buffered_) {
    if (auto* e = std::get_if<traces::PageEvent>(&item)) {
      on_event(*e);
    } else {
      const auto& c = std::get<PendingComm>(item);
      on_comm(c.tid, c.tgid, c.comm);
    }
  }
  buffered_.clear();
  buffered_.shrink_to_fit();
}

void TraceSink::on_event(const traces::PageEvent& in) {
  if (buffering_) {
    buffered_.emplace_back(in);
    return;
  }
  traces::PageEvent e = in;
  e.comm_id = comm_of(e.tid, e.pid);
  if (e.stack_id != traces::kNoStack && defined_stacks_.insert(e.stack_id).second) define_stack(e.stack_id);
  target_.append(e);
  ++events_;
  ++by_kind_[static_cast<std::size_t>(e.kind)];
  if (events_ == 1) first_ts_ = e.ts_ns;
  last_ts_ = std::max(last_ts_, e.ts_ns);
  since_flush_ = true;
}

void TraceSink::on_comm(std::uint32_t tid, std::uint32_t tgid, std::string_view comm) {
  if (buffering_) {
    buffered_.emplace_back(PendingComm{tid, tgid, std::string(comm)});
    return;
  }
  (void)tgid;
  tid_comm_[tid] = intern(comm);
  if (tid == last_tid_) last_comm_ = kNoCache;
}

void TraceSink::flush_if_due() {
  if (!since_flush_) return;
  target_.flush();
  since_flush_ = false;
}

std::uint32_t TraceSink::intern(std::string_view comm) {
  const std::string key(comm);
  auto it = comm_ids_.find(key);
  if (it != comm_ids_.end()) return it->second;
  const std::uint32_t id = target_.intern_comm(comm);
  comm_ids_.emplace(key, id);
  return id;
}

std::uint32_t TraceSink::comm_of(std::uint32_t tid, std::uint32_t tgid) {
  if (tid == last_tid_ && last_comm_ != kNoCache) return last_comm_;
  last_tid_ = tid;
  last_comm_ = lookup_comm(tid, tgid);
  return last_comm_;
}

std::uint32_t TraceSink::lookup_comm(std::uint32_t tid, std::uint32_t tgid) {
  auto it = tid_comm_.find(tid);
  if (it != tid_comm_.end()) return it->second;
  // The name record was lost (ring full) or the thread was never named: ask /proc once.
  std::uint32_t id = traces::kUnknownComm;
  std::ifstream in(fmt::format("/proc/{}/task/{}/comm", tgid, tid));
  std::string name;
  if (in && std::getline(in, name) && !name.empty()) id = intern(name);
  tid_comm_.emplace(tid, id);
  return id;
}

void TraceSink::define_stack(std::uint32_t id) {
  std::vector<std::uint64_t> ips;
  if (!collector_.stack(id, ips)) {
    ++stacks_lost_;
    return;
  }
  std::vector<std::string> frames;
  frames.reserve(ips.size());
  for (const auto ip : ips)
    frames.push_back(symbols_ != nullptr ? symbols_->symbolize(ip) : fmt::format("{:#x}", ip));
  target_.define_stack(id, std::move(frames));
}

}  // namespace labyrinth::ebpf
