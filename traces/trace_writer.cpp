#include "labyrinth/traces/trace_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "block_format.hpp"
#include "crc32c.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/chunk_encoder.hpp"
#include "labyrinth/traces/metadata_json.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "snapshot_codec.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::traces {
namespace {

using Clock = std::chrono::steady_clock;

using common::errno_text;

format::BlockType block_type(BlockRole role) {
  switch (role) {
    case BlockRole::Events: return format::BlockType::Events;
    case BlockRole::StartSnapshot: return format::BlockType::StartSnapshot;
    case BlockRole::Keyframe: return format::BlockType::Keyframe;
    case BlockRole::EndSnapshot: return format::BlockType::EndSnapshot;
    case BlockRole::TaskStates: return format::BlockType::TaskStates;
    case BlockRole::ZoneCounters: return format::BlockType::ZoneCounters;
    case BlockRole::ZoneCounterDiffs: return format::BlockType::ZoneCounterDiffs;
  }
  return format::BlockType::Events;
}

}  // namespace

struct TraceWriter::Impl {
  std::string path;
  WriterOptions options;
  std::optional<common::OutputFile> file;  // with a path: the trace, written in place
  int fd = -1;  // file's, or the caller's (fsynced but not closed)
  std::uint64_t offset = 0;
  bool finished = false;
  bool broken = false;
  std::string broken_message;

  std::vector<PageEvent> pending;
  bool zone_counters_pending = false;  // pending holds ZoneCounters events
  std::vector<PageEvent> split;        // pending without them
  std::vector<std::pair<std::uint32_t, std::string>> pending_comms;
  std::vector<StackTrace> pending_stacks;
  std::unordered_map<std::string, std::uint32_t> comm_ids;
  Clock::time_point chunk_started{};
  std::uint32_t appends_since_clock_check = 0;

  std::string raw;
  std::string diffs;  // a zone-counters block's diffs
  ChunkEncoder encoder;
  EncodedBlock sealed;
  TraceFooter totals;

  explicit Impl(const WriterOptions& o) : options(o), encoder(o.compression_level) {}

  void fail(const std::string& message) {
    broken = true;
    broken_message = message;
    throw TraceError(TraceError::Kind::Io, message);
  }

  void write_all(const void* data, std::size_t size) {
    if (broken) throw TraceError(TraceError::Kind::Io, broken_message);
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        fail(path + ": write failed at offset " + std::to_string(offset) + ": " + errno_text(err) +
             (err == ENOSPC ? " (the file holds every block written before this point)" : ""));
      }
      p += n;
      size -= static_cast<std::size_t>(n);
      offset += static_cast<std::uint64_t>(n);
    }
  }

  void write_block(format::BlockType type, std::uint32_t count, const std::string& payload, bool compress) {
    try {
      encoder.seal(payload, compress, sealed);
    } catch (const TraceError& e) {
      fail(path + ": " + e.what());
    }
    sealed.meta.count = count;
    write_sealed(type, sealed.meta, sealed.payload);
  }

  void write_sealed(format::BlockType type, const BlockMeta& meta, std::string_view stored) {
    format::BlockHeader header{};
    header.tag = format::kBlockTag;
    header.type = static_cast<std::uint32_t>(type);
    header.flags = meta.zstd ? format::kFlagZstd : 0;
    header.count = meta.count;
    header.stored_size = stored.size();
    header.raw_size = meta.raw_size;
    header.payload_crc = meta.payload_crc;
    header.header_crc = crc32c(&header, format::kBlockHeaderSize - 4);
    // One buffer, one write: a block is either fully on disk or a detectable torn tail.
    std::string block(reinterpret_cast<const char*>(&header), format::kBlockHeaderSize);
    block += stored;
    write_all(block.data(), block.size());
  }

  void flush_chunk() {
    if (!pending_comms.empty()) {
      encode_comms(pending_comms, raw);
      write_block(format::BlockType::Comms, static_cast<std::uint32_t>(pending_comms.size()), raw, true);
      pending_comms.clear();
    }
    if (!pending_stacks.empty()) {
      encode_stacks(pending_stacks, raw);
      write_block(format::BlockType::Stacks, static_cast<std::uint32_t>(pending_stacks.size()), raw, true);
      pending_stacks.clear();
    }
    if (!pending.empty()) {
      // Side blocks before their events, so that an older reader, which skips them, reads the
      // events as they were.
      const std::vector<PageEvent>* events = &pending;
      if (zone_counters_pending) {
        if (const std::uint32_t n = split_zone_counters(pending, split, raw, diffs); n != 0) {
          write_block(format::BlockType::ZoneCounters, n, raw, true);
          if (!diffs.empty()) write_block(format::BlockType::ZoneCounterDiffs, n, diffs, true);
        }
        events = &split;
        zone_counters_pending = false;
      }
      if (const std::uint32_t n = encode_task_states(*events, raw); n != 0) {
        write_block(format::BlockType::TaskStates, n, raw, false);
      }
      if (!events->empty()) {
        encode_events(*events, raw);
        write_block(format::BlockType::Events, static_cast<std::uint32_t>(events->size()), raw, true);
      }
      pending.clear();
    }
  }
};

TraceWriter::TraceWriter(std::string path, TraceHeader header, WriterOptions options)
    : impl_(std::make_unique<Impl>(options)) {
  impl_->path = std::move(path);
  // In place: a recording is readable while it grows, and what was written stays after a kill.
  try {
    impl_->file.emplace(impl_->path,
                        common::OutputPolicy{.overwrite = options.overwrite, .private_data = true, .in_place = true});
  } catch (const common::OutputError& e) {
    throw TraceError(TraceError::Kind::Io, e.what());
  }
  impl_->fd = impl_->file->fd();
  start(std::move(header));
}

TraceWriter::TraceWriter(int fd, std::string name, TraceHeader header, WriterOptions options)
    : impl_(std::make_unique<Impl>(options)) {
  impl_->path = std::move(name);
  impl_->fd = fd;
  start(std::move(header));
}

void TraceWriter::start(TraceHeader header) {
  if (impl_->options.chunk_events == 0 || impl_->options.chunk_events > format::kMaxChunkEvents) {
    impl_->options.chunk_events = 1u << 16;
  }
  format::FileHeader file_header{};
  std::memcpy(file_header.magic, format::kMagic, sizeof file_header.magic);
  file_header.major = kFormatMajor;
  file_header.minor = kFormatMinor;
  impl_->write_all(&file_header, sizeof file_header);
  // Process names and command arguments may be any bytes: replace what is not UTF-8.
  const std::string text = nlohmann::json(header).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  impl_->write_block(format::BlockType::Header, 0, text, false);
  impl_->pending.reserve(impl_->options.chunk_events);
  impl_->comm_ids.emplace("", kUnknownComm);
}

TraceWriter::~TraceWriter() {
  if (!impl_->finished && !impl_->broken) {
    try {
      impl_->flush_chunk();
    } catch (const TraceError&) {  // NOLINT(bugprone-empty-catch): nothing more can be saved
    }
  }
}

void TraceWriter::write_start_snapshot(const Snapshot& snapshot) {
  std::string payload;
  encode_snapshot(snapshot, payload);
  impl_->write_block(format::BlockType::StartSnapshot, static_cast<std::uint32_t>(snapshot.free_runs.size()),
                     payload, true);
}

void TraceWriter::write_keyframe(const Snapshot& snapshot) {
  std::string payload;
  encode_snapshot(snapshot, payload);
  impl_->write_block(format::BlockType::Keyframe, static_cast<std::uint32_t>(snapshot.free_runs.size()), payload, true);
}

std::uint32_t TraceWriter::intern_comm(std::string_view comm) {
  auto it = impl_->comm_ids.find(std::string(comm));
  if (it != impl_->comm_ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(impl_->comm_ids.size());
  impl_->comm_ids.emplace(std::string(comm), id);
  impl_->pending_comms.emplace_back(id, std::string(comm));
  return id;
}

void TraceWriter::define_stack(std::uint32_t stack_id, std::vector<std::string> frames) {
  impl_->pending_stacks.push_back(StackTrace{stack_id, std::move(frames)});
}

void TraceWriter::append(const PageEvent& event) {
  Impl& w = *impl_;
  if (w.pending.empty()) {
    w.chunk_started = Clock::now();
    w.appends_since_clock_check = 0;
  }
  w.pending.push_back(event);
  if (event.zone_counters()) {  // not an event of the file: a side block of its chunk
    w.zone_counters_pending = true;
    return;
  }
  TraceFooter& t = w.totals;
  if (t.events == 0 || event.ts_ns < t.first_ts_ns) t.first_ts_ns = event.ts_ns;
  if (t.events == 0 || event.ts_ns > t.last_ts_ns) t.last_ts_ns = event.ts_ns;
  ++t.events;
  ++t.events_by_kind[static_cast<std::size_t>(event.kind)];
  if (w.pending.size() >= w.options.chunk_events) {
    w.flush_chunk();
  } else if (++w.appends_since_clock_check >= 1024) {
    w.appends_since_clock_check = 0;
    if (Clock::now() - w.chunk_started >= w.options.max_chunk_age) w.flush_chunk();
  }
}

void TraceWriter::flush() { impl_->flush_chunk(); }

void TraceWriter::write_encoded(const BlockMeta& meta, std::string_view payload) {
  Impl& w = *impl_;
  w.flush_chunk();  // names and stacks first, and events in the order they came
  w.write_sealed(block_type(meta.role), meta, payload);
  if (meta.role != BlockRole::Events || meta.count == 0) return;
  TraceFooter& t = w.totals;
  if (t.events == 0 || meta.first_ts_ns < t.first_ts_ns) t.first_ts_ns = meta.first_ts_ns;
  if (t.events == 0 || meta.last_ts_ns > t.last_ts_ns) t.last_ts_ns = meta.last_ts_ns;
  t.events += meta.count;
  for (std::size_t k = 0; k < t.events_by_kind.size(); ++k) t.events_by_kind[k] += meta.by_kind[k];
}

void TraceWriter::finish(const Snapshot& end_snapshot, TraceFooter footer) {
  Impl& w = *impl_;
  w.flush_chunk();
  if (end_snapshot.present) {
    std::string payload;
    encode_snapshot(end_snapshot, payload);
    w.write_block(format::BlockType::EndSnapshot, static_cast<std::uint32_t>(end_snapshot.free_runs.size()), payload,
                  true);
  }
  footer.present = true;
  footer.events = w.totals.events;
  footer.events_by_kind = w.totals.events_by_kind;
  if (w.totals.events > 0) {
    footer.first_ts_ns = w.totals.first_ts_ns;
    footer.last_ts_ns = w.totals.last_ts_ns;
  }
  w.write_block(format::BlockType::Footer, 0, nlohmann::json(footer).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false);
  if (::fsync(w.fd) != 0 && errno != EINVAL) w.fail(w.path + ": fsync failed: " + errno_text(errno));
  w.fd = -1;
  if (w.file) {
    try {
      w.file->commit();
    } catch (const common::OutputError& e) {
      w.fail(e.what());
    }
  }
  w.finished = true;
}

const std::string& TraceWriter::path() const { return impl_->path; }
std::uint64_t TraceWriter::events_written() const { return impl_->totals.events; }
std::uint64_t TraceWriter::bytes_written() const { return impl_->offset; }

}  // namespace labyrinth::traces
