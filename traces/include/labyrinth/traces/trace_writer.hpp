// Writes a trace file: header, start snapshot, compressed event chunks, end snapshot, footer.
// The file is usable at every chunk boundary, so a writer killed mid-way leaves a readable
// prefix; only the footer marks it complete. See labyrinth-trace(5).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/chunk_encoder.hpp"
#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::traces {

struct WriterOptions {
  bool overwrite = false;                  // -f: replace an existing regular file
  int compression_level = 3;               // zstd level
  std::uint32_t chunk_events = 1u << 16;   // events per chunk at most
  std::chrono::milliseconds max_chunk_age{1000};  // flush a chunk at least this often (see append)
};

class TraceWriter {
 public:
  // Creates the file through common::OutputFile, in place and 0600 (traces hold physical
  // addresses): exclusively, never through a symbolic link, an existing regular file only
  // with overwrite. Throws TraceError naming the path.
  TraceWriter(std::string path, TraceHeader header, WriterOptions options = {});
  // Writes to a file the caller created and will commit (common::OutputFile): `name` is for
  // messages; finish() fsyncs it but leaves closing to the caller.
  TraceWriter(int fd, std::string name, TraceHeader header, WriterOptions options = {});
  ~TraceWriter();  // flushes pending events but writes no footer: the file stays "incomplete"
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Before the first event.
  void write_start_snapshot(const Snapshot& snapshot);
  // The kernel's state mid-recording (buddyinfo and zoneinfo, and the free-page map when the
  // snapshot has one). Events recorded before it may follow it in the file: readers order by time.
  void write_keyframe(const Snapshot& snapshot);

  // Process names and stacks are stored once; ids are small integers (0 = unknown / none).
  std::uint32_t intern_comm(std::string_view comm);
  void define_stack(std::uint32_t stack_id, std::vector<std::string> frames);

  // Buffers the event; writes a chunk when it is full or older than max_chunk_age.
  void append(const PageEvent& event);
  // Writes the pending chunk now (the recorder calls this on a timer as well).
  void flush();
  // A block encoded earlier by a ChunkEncoder, after the pending chunk; events count in the footer.
  void write_encoded(const BlockMeta& meta, std::string_view payload);

  // Flushes, writes the end snapshot (if present) and the footer, fsyncs and closes.
  void finish(const Snapshot& end_snapshot, TraceFooter footer);

  [[nodiscard]] const std::string& path() const;
  [[nodiscard]] std::uint64_t events_written() const;   // appended so far
  [[nodiscard]] std::uint64_t bytes_written() const;    // on disk so far

 private:
  void start(TraceHeader header);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::traces
