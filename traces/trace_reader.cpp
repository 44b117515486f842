#include "labyrinth/traces/trace_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "block_format.hpp"
#include "block_loader.hpp"
#include "read_ahead_thread.hpp"
#include "event_codec.hpp"
#include "labyrinth/traces/metadata_json.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "snapshot_codec.hpp"

namespace labyrinth::traces {
namespace {


std::string text_of(const ByteBuffer& raw) {
  return {reinterpret_cast<const char*>(raw.data()), raw.size()};
}

std::string at(const std::string& path, std::uint64_t offset) {
  return path + ": offset " + std::to_string(offset) + ": ";
}

// Rejects header values no real kernel has, before anything is sized from them.
void validate_header(const TraceHeader& h, const std::string& where) {
  auto bad = [&](const std::string& what) { throw TraceError(TraceError::Kind::Corrupt, where + what); };
  if (h.page_size < 1024 || h.page_size > (1u << 20) || (h.page_size & (h.page_size - 1)) != 0) {
    bad("header page_size " + std::to_string(h.page_size) + " is not a plausible page size");
  }
  if (h.max_order > static_cast<std::uint32_t>(kMaxSupportedOrder)) {
    bad("header max_order " + std::to_string(h.max_order) + " is above " + std::to_string(kMaxSupportedOrder));
  }
  if (h.pageblock_order > h.max_order) bad("header pageblock_order is above max_order");
  if (h.nr_cpus > 65536) bad("header nr_cpus " + std::to_string(h.nr_cpus) + " is absurd");
  if (h.zones.size() > 1024) bad("header lists more than 1024 zones");
  if (h.migratetype_names.size() > 15) bad("header lists more than 15 migratetypes");
}

}  // namespace

struct TraceReader::Impl {
  std::string path;
  int fd = -1;
  std::uint64_t file_size = 0;
  std::uint64_t offset = 0;
  TraceHeader header;
  Snapshot start;
  Snapshot end;
  std::vector<Snapshot> keyframes;  // by time
  std::vector<std::uint64_t> keyframe_offsets;  // file offset of each keyframe's block
  TraceFooter footer;
  ReadDamage damage;
  bool done = false;
  std::uint64_t events_read = 0;
  std::uint64_t chunks_read = 0;
  std::unordered_map<std::uint32_t, std::string> comms;
  std::unordered_map<std::uint32_t, StackTrace> stacks;
  std::unique_ptr<BlockLoader> loader;  // blocks read here, or by the read-ahead thread
  LoadedBlock current;                  // the block being consumed, when read here
  ReadAhead read_ahead_mode = ReadAhead::Off;
  UnreadColumns unread = UnreadColumns::None;
  std::unique_ptr<ReadAheadThread> read_ahead;
  std::size_t batch_events = 0;  // 0: a whole chunk per next()
  // The events of the current chunk: decoded here in batches, or all by the read-ahead.
  EventDecoder* decoder = nullptr;
  EventBuffer events;  // decode() writes every field
  std::span<const PageEvent> decoded;
  bool decoded_in_order = false;  // the read-ahead's chunk in `decoded`
  // The task states of the next (then current) events block, and how far they are applied.
  std::vector<std::pair<std::uint32_t, std::uint8_t>> task_states;
  std::size_t task_states_applied = 0;
  std::vector<PageEvent> zone_counters;  // decoded, not yet taken
  std::uint32_t zone_counters_just_read = 0;  // entries of the block before this one, if it was theirs
  std::uint64_t chunk_pos = 0;    // events of the current chunk handed out
  std::uint64_t chunk_count = 0;
  bool batch_in_order = false;    // the span next() returned last
  std::uint64_t block_offset = 0;
  std::uint64_t end_offset = 0;  // of the end snapshot block, once found
  std::uint64_t declared_events = 0;  // the events blocks' counts, summed on open
  bool walked_to_footer = false;

  ~Impl() {
    read_ahead.reset();  // its thread reads fd
    if (fd >= 0) ::close(fd);
  }

  [[nodiscard]] bool events_pending() const {
    return (decoder != nullptr && decoder->remaining() != 0) || !decoded.empty();
  }

  std::span<const PageEvent> next_batch() {
    std::span<const PageEvent> out;
    if (!decoded.empty()) {
      const std::size_t n = batch_events == 0 ? decoded.size() : std::min(batch_events, decoded.size());
      out = decoded.first(n);
      decoded = decoded.subspan(n);
      batch_in_order = decoded_in_order;
    } else {
      const std::size_t n =
          batch_events == 0 ? decoder->remaining() : std::min<std::size_t>(batch_events, decoder->remaining());
      if (events.size() < n) resize_for_overwrite(events, n);
      decoder->decode(events.data(), n);
      apply_task_states(events.data(), n);
      out = {events.data(), n};
      batch_in_order = decoder->in_order();
    }
    events_read += out.size();
    return out;
  }

  // Gives the events [chunk_pos, chunk_pos + n) of the chunk their states; an entry past the
  // chunk's end is damage.
  void apply_task_states(PageEvent* batch, std::size_t n) {
    const std::uint64_t batch_end = chunk_pos + n;
    while (task_states_applied < task_states.size() && task_states[task_states_applied].first < batch_end) {
      const auto [index, state] = task_states[task_states_applied++];
      PageEvent& e = batch[index - chunk_pos];
      if (e.kind == EventKind::Alloc) e.task_state = state;
    }
    chunk_pos = batch_end;
    if (chunk_pos < chunk_count) return;
    if (task_states_applied < task_states.size()) {
      mark(false, false, "the task-states block names event " + std::to_string(task_states[task_states_applied].first) +
                             " of a chunk of " + std::to_string(chunk_count));
    }
    task_states.clear();
    task_states_applied = 0;
  }

  void mark(bool truncated, bool checksum, const std::string& message) {
    damage.truncated = damage.truncated || truncated;
    damage.checksum_mismatch = damage.checksum_mismatch || checksum;
    damage.corrupt = damage.corrupt || (!truncated && !checksum);
    damage.offset = block_offset;
    damage.message = at(path, block_offset) + message;
    done = true;
  }

  // The next block, from the read-ahead thread or read here. Damage is marked; an I/O error
  // is thrown.
  LoadedBlock& fetch() {
    decoder = nullptr;  // the previous block goes back to the read-ahead thread
    decoded = {};
    if (read_ahead_mode != ReadAhead::Off && !read_ahead) {
      const EventsLoad load = read_ahead_mode == ReadAhead::Events ? EventsLoad::Decode : EventsLoad::Open;
      read_ahead = std::make_unique<ReadAheadThread>(fd, path, file_size, offset, load, unread);
    }
    LoadedBlock& b = read_ahead ? read_ahead->next() : current;
    if (!read_ahead) loader->load(offset, b, EventsLoad::Open);
    block_offset = b.offset;
    if (b.io_error) {
      done = true;
      std::rethrow_exception(b.io_error);
    }
    if (b.problem) mark(b.problem->truncated, b.problem->checksum, b.problem->message);
    offset = b.next_offset;
    return b;
  }

  // Finds the keyframes and the end snapshot ahead of the events by walking the block
  // headers from `from` (40 bytes read per block), so that a consumer knows their times
  // before the events that were recorded after them, and sums the events blocks' counts on
  // the way to the footer. Silent on damage: streaming reports it where it is met, and
  // keyframes past it are not used.
  void read_snapshots_ahead(std::uint64_t from) {
    format::BlockHeader h{};
    ByteBuffer payload;
    for (std::uint64_t pos = from; pos < file_size; pos += format::kBlockHeaderSize + h.stored_size) {
      if (loader->load_header(pos, h)) return;
      const auto type = static_cast<format::BlockType>(h.type);
      if (type == format::BlockType::Footer) {
        walked_to_footer = true;
        return;
      }
      if (type == format::BlockType::Events) declared_events += h.count;
      if (end_offset != 0 || (type != format::BlockType::EndSnapshot && type != format::BlockType::Keyframe)) continue;
      std::string error;
      Snapshot found;
      if (loader->load_payload(pos, h, payload) || !decode_snapshot(payload.data(), payload.size(), found, error)) {
        return;
      }
      if (type == format::BlockType::Keyframe) {
        // The free-page map can be megabytes: it stays in the file until a resync needs it.
        found.free_map_in_file = !found.free_runs.empty();
        found.free_runs = {};
        found.free_runs.shrink_to_fit();
        keyframes.push_back(std::move(found));
        keyframe_offsets.push_back(pos);
        continue;
      }
      end = std::move(found);
      end_offset = pos;  // then on to the footer, counting the events recorded after it
    }
  }
};

TraceReader::TraceReader(std::string path) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.path = std::move(path);
  r.fd = ::open(r.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r.fd < 0) throw TraceError(TraceError::Kind::Io, r.path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(r.fd, &st) != 0) throw TraceError(TraceError::Kind::Io, r.path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw TraceError(TraceError::Kind::BadInput, r.path + ": not a regular file");
  r.file_size = static_cast<std::uint64_t>(st.st_size);
  r.loader = std::make_unique<BlockLoader>(r.fd, r.path, r.file_size);

  format::FileHeader file_header{};
  if (r.file_size == 0) throw TraceError(TraceError::Kind::BadMagic, r.path + ": empty file, not a labyrinth trace");
  const std::size_t got = r.loader->read_at(&file_header, sizeof file_header, 0);
  if (got < sizeof file_header && std::memcmp(file_header.magic, format::kMagic, std::min(got, sizeof format::kMagic)) == 0) {
    throw TraceError(TraceError::Kind::Truncated,
                     r.path + ": offset " + std::to_string(got) + ": the file ends inside the file header (truncated)");
  }
  if (got < sizeof file_header || std::memcmp(file_header.magic, format::kMagic, sizeof format::kMagic) != 0) {
    throw TraceError(TraceError::Kind::BadMagic,
                     r.path + ": offset 0: not a labyrinth trace (bad magic); text captures go through 'labyrinth import'");
  }
  if (file_header.major > kFormatMajor) {
    throw TraceError(TraceError::Kind::NewerVersion,
                     r.path + ": trace format " + std::to_string(file_header.major) + "." +
                         std::to_string(file_header.minor) + " is newer than this labyrinth reads (" +
                         std::to_string(kFormatMajor) + ".x); upgrade labyrinth");
  }
  if (file_header.major == 0) {
    throw TraceError(TraceError::Kind::Corrupt, r.path + ": offset 8: trace format 0." +
                                                    std::to_string(file_header.minor) + " does not exist (damaged file header)");
  }
  r.offset = sizeof file_header;

  const LoadedBlock& first = r.fetch();
  if (first.end_of_file) {
    throw TraceError(TraceError::Kind::Truncated,
                     at(r.path, r.offset) + "the file ends before the trace header (truncated)");
  }
  if (first.problem || first.header.type != static_cast<std::uint32_t>(format::BlockType::Header)) {
    throw TraceError(r.damage.truncated ? TraceError::Kind::Truncated : TraceError::Kind::Corrupt,
                     r.damage.any() ? r.damage.message : at(r.path, r.block_offset) + "the trace header is missing");
  }
  try {
    parse_metadata(text_of(first.raw)).get_to(r.header);
  } catch (const nlohmann::json::exception& e) {
    throw TraceError(TraceError::Kind::Corrupt, at(r.path, r.block_offset) + "the trace header is not valid: " + e.what());
  }
  validate_header(r.header, at(r.path, r.block_offset));

  // The start snapshot, if any, comes right after the header.
  const std::uint64_t after_header = r.offset;
  const LoadedBlock& second = r.fetch();
  if (second.problem) return;  // marked: next() reports it
  if (!second.end_of_file && second.header.type == static_cast<std::uint32_t>(format::BlockType::StartSnapshot)) {
    std::string error;
    if (!decode_snapshot(second.raw.data(), second.raw.size(), r.start, error)) r.mark(false, false, error);
  } else {
    r.offset = after_header;  // not a snapshot: next() reads it again
  }
  if (!r.done) r.read_snapshots_ahead(r.offset);
  // Recorded in time order; sort the pairs all the same (a hand-made text trace may not be).
  std::vector<std::size_t> order(r.keyframes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&r](std::size_t a, std::size_t b) { return r.keyframes[a].ts_ns < r.keyframes[b].ts_ns; });
  std::vector<Snapshot> keyframes;
  std::vector<std::uint64_t> offsets;
  for (const std::size_t i : order) {
    keyframes.push_back(std::move(r.keyframes[i]));
    offsets.push_back(r.keyframe_offsets[i]);
  }
  r.keyframes = std::move(keyframes);
  r.keyframe_offsets = std::move(offsets);
}

TraceReader::~TraceReader() = default;

bool TraceReader::next(std::span<const PageEvent>& out) {
  Impl& r = *impl_;
  if (r.events_pending()) {  // the rest of a chunk, in batches
    out = r.next_batch();
    return true;
  }
  while (!r.done) {
    LoadedBlock& b = r.fetch();
    if (b.end_of_file) {
      if (!r.footer.present) {
        r.damage.truncated = true;
        r.damage.offset = r.offset;
        r.damage.message = at(r.path, r.offset) + "the trace has no footer: the recording did not finish (incomplete)";
      }
      r.done = true;
      break;
    }
    if (b.problem) break;
    std::string error;
    const std::uint32_t after_counters = std::exchange(r.zone_counters_just_read, 0);
    switch (static_cast<format::BlockType>(b.header.type)) {
      case format::BlockType::Events:  // checked by load()
        r.chunk_pos = 0;
        r.chunk_count = b.header.count;
        if (r.read_ahead_mode == ReadAhead::Events) {
          r.apply_task_states(b.events.data(), b.header.count);
          r.decoded = std::span<const PageEvent>(b.events.data(), b.header.count);
          r.decoded_in_order = b.decoder.in_order();
        } else {
          r.decoder = &b.decoder;
        }
        ++r.chunks_read;
        out = r.next_batch();
        return true;
      case format::BlockType::TaskStates:
        if (!decode_task_states(b.raw.data(), b.raw.size(), b.header.count, r.task_states, error)) {
          r.mark(false, false, error);
        }
        r.task_states_applied = 0;
        break;
      case format::BlockType::ZoneCounters:
        if (!decode_zone_counters(b.raw.data(), b.raw.size(), b.header.count, r.zone_counters, error)) {
          r.mark(false, false, error);
          break;
        }
        r.zone_counters_just_read = b.header.count;
        break;
      case format::BlockType::ZoneCounterDiffs:
        // Only right after its counters (a flight dump may have lost them: then it says nothing).
        if (after_counters != 0 && after_counters == b.header.count && r.zone_counters.size() >= after_counters &&
            !decode_zone_counter_diffs(b.raw.data(), b.raw.size(), b.header.count,
                                       std::span(r.zone_counters).last(after_counters), error)) {
          r.mark(false, false, error);
        }
        break;
      case format::BlockType::Comms:
        if (!decode_comms(b.raw.data(), b.raw.size(), b.header.count, r.comms, error)) r.mark(false, false, error);
        break;
      case format::BlockType::Stacks:
        if (!decode_stacks(b.raw.data(), b.raw.size(), b.header.count, r.stacks, error)) r.mark(false, false, error);
        break;
      case format::BlockType::Keyframe:  // read ahead at open
        break;
      case format::BlockType::EndSnapshot:
        if (r.block_offset == r.end_offset) break;  // read ahead at open
        if (!decode_snapshot(b.raw.data(), b.raw.size(), r.end, error)) r.mark(false, false, error);
        break;
      case format::BlockType::Footer:
        try {
          parse_metadata(text_of(b.raw)).get_to(r.footer);
        } catch (const nlohmann::json::exception& e) {
          r.mark(false, false, std::string("the footer is not valid: ") + e.what());
          break;
        }
        r.done = true;  // anything after the footer is ignored
        break;
      case format::BlockType::Header:
      case format::BlockType::StartSnapshot:
        r.mark(false, false, "a second header or start snapshot in the middle of the trace");
        break;
      default:
        break;  // an unknown block of a newer minor version: skip it
    }
  }
  out = {};
  return false;
}

void TraceReader::set_batch_events(std::size_t events) { impl_->batch_events = events; }
bool TraceReader::in_time_order() const { return impl_->batch_in_order; }
void TraceReader::skip_cpu_and_tid() { skip_columns(UnreadColumns::CpuAndTid); }
void TraceReader::skip_tid() { skip_columns(UnreadColumns::Tid); }
void TraceReader::skip_columns(UnreadColumns unread) {
  impl_->unread = unread;
  impl_->loader->skip_columns(unread);
}

void TraceReader::set_read_ahead(ReadAhead mode) {
  if (!impl_->read_ahead) impl_->read_ahead_mode = mode;
}

const TraceHeader& TraceReader::header() const { return impl_->header; }
const Snapshot& TraceReader::start_snapshot() const { return impl_->start; }
const Snapshot& TraceReader::end_snapshot() const { return impl_->end; }
const std::vector<Snapshot>& TraceReader::keyframes() const { return impl_->keyframes; }

bool TraceReader::keyframe_free_map(std::size_t index, std::vector<FreeRun>& runs) const {
  runs.clear();
  const Impl& r = *impl_;
  if (index >= r.keyframes.size() || !r.keyframes[index].free_map_in_file) return false;
  // A loader of its own: the reader's may be in the middle of a block.
  BlockLoader loader(r.fd, r.path, r.file_size);
  format::BlockHeader h{};
  ByteBuffer payload;
  Snapshot found;
  std::string error;
  const std::uint64_t at = r.keyframe_offsets[index];
  if (loader.load_header(at, h) || loader.load_payload(at, h, payload) ||
      !decode_snapshot(payload.data(), payload.size(), found, error)) {
    return false;
  }
  runs = std::move(found.free_runs);
  return true;
}
std::uint64_t TraceReader::end_snapshot_offset() const { return impl_->end_offset; }
std::optional<std::uint64_t> TraceReader::events_declared() const {
  if (!impl_->walked_to_footer) return std::nullopt;
  return impl_->declared_events;
}
const TraceFooter& TraceReader::footer() const { return impl_->footer; }

std::vector<PageEvent> TraceReader::take_zone_counters() {
  std::vector<PageEvent> out;
  out.swap(impl_->zone_counters);
  return out;
}
bool TraceReader::complete() const { return impl_->footer.present && !impl_->damage.any(); }
const ReadDamage& TraceReader::damage() const { return impl_->damage; }
std::uint64_t TraceReader::events_read() const { return impl_->events_read; }
std::uint64_t TraceReader::chunks_read() const { return impl_->chunks_read; }
const std::string& TraceReader::path() const { return impl_->path; }
std::uint64_t TraceReader::file_size() const { return impl_->file_size; }
std::uint64_t TraceReader::offset() const { return impl_->offset; }

std::string_view TraceReader::comm(std::uint32_t comm_id) const {
  auto it = impl_->comms.find(comm_id);
  return it == impl_->comms.end() ? std::string_view{} : std::string_view(it->second);
}

const StackTrace* TraceReader::stack(std::uint32_t stack_id) const {
  auto it = impl_->stacks.find(stack_id);
  return it == impl_->stacks.end() ? nullptr : &it->second;
}

}  // namespace labyrinth::traces
