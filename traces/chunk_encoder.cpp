#include "labyrinth/traces/chunk_encoder.hpp"

#include <zstd.h>

#include <algorithm>

#include "crc32c.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "snapshot_codec.hpp"

namespace labyrinth::traces {

struct ChunkEncoder::Context {
  ZSTD_CCtx* cctx = nullptr;
  ~Context() {
    if (cctx != nullptr) ZSTD_freeCCtx(cctx);
  }
};

ChunkEncoder::ChunkEncoder(int compression_level) : ctx_(new Context), level_(compression_level) {}
ChunkEncoder::~ChunkEncoder() { delete ctx_; }

void ChunkEncoder::seal(const std::string& raw, bool compress, EncodedBlock& out) {
  out.meta.raw_size = raw.size();
  out.meta.zstd = compress && !raw.empty();
  if (out.meta.zstd) {
    if (ctx_->cctx == nullptr) ctx_->cctx = ZSTD_createCCtx();
    out.payload.resize(ZSTD_compressBound(raw.size()));
    const std::size_t n =
        ZSTD_compressCCtx(ctx_->cctx, out.payload.data(), out.payload.size(), raw.data(), raw.size(), level_);
    if (ZSTD_isError(n) != 0U) throw TraceError(TraceError::Kind::Io, std::string("compression failed: ") + ZSTD_getErrorName(n));
    out.payload.resize(n);
  } else {
    out.payload = raw;
  }
  out.meta.payload_crc = crc32c(out.payload.data(), out.payload.size());
}

void ChunkEncoder::encode_events(const std::vector<PageEvent>& events, EncodedBlock& out) {
  out.meta = BlockMeta{};
  out.meta.role = BlockRole::Events;
  out.meta.count = static_cast<std::uint32_t>(events.size());
  for (const auto& e : events) {
    ++out.meta.by_kind[static_cast<std::size_t>(e.kind)];
    if (&e == &events.front() || e.ts_ns < out.meta.first_ts_ns) out.meta.first_ts_ns = e.ts_ns;
    if (&e == &events.front() || e.ts_ns > out.meta.last_ts_ns) out.meta.last_ts_ns = e.ts_ns;
  }
  traces::encode_events(events, raw_);
  seal(raw_, true, out);
}

bool ChunkEncoder::encode_task_states(const std::vector<PageEvent>& events, EncodedBlock& out) {
  const std::uint32_t n = traces::encode_task_states(events, raw_);
  if (n == 0) return false;
  out.meta = BlockMeta{};
  out.meta.role = BlockRole::TaskStates;
  out.meta.count = n;
  seal(raw_, false, out);
  return true;
}

bool ChunkEncoder::split_zone_counters(std::vector<PageEvent>& events, EncodedBlock& out, EncodedBlock& diffs) {
  if (std::none_of(events.begin(), events.end(), [](const PageEvent& e) { return e.zone_counters(); })) return false;
  const std::uint32_t n = traces::split_zone_counters(events, rest_, raw_, diffs_raw_);
  events.swap(rest_);
  out.meta = BlockMeta{};
  out.meta.role = BlockRole::ZoneCounters;
  out.meta.count = n;
  seal(raw_, true, out);
  diffs.meta = BlockMeta{};
  diffs.meta.role = BlockRole::ZoneCounterDiffs;
  if (!diffs_raw_.empty()) {
    diffs.meta.count = n;
    seal(diffs_raw_, true, diffs);
  }
  return true;
}

void ChunkEncoder::encode_snapshot(const Snapshot& snapshot, BlockRole role, EncodedBlock& out) {
  out.meta = BlockMeta{};
  out.meta.role = role;
  out.meta.count = static_cast<std::uint32_t>(snapshot.free_runs.size());
  out.meta.first_ts_ns = out.meta.last_ts_ns = snapshot.ts_ns;
  traces::encode_snapshot(snapshot, raw_);
  seal(raw_, true, out);
}

}  // namespace labyrinth::traces
