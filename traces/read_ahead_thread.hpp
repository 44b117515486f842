// Loads the blocks of a trace ahead of its consumer, on a thread of its own: checksums,
// decompression, the column checks, and (EventsLoad::Decode) event decoding run on a second
// core while the first replays or counts. Bounded: one block waits while the consumer holds
// another (every buffer is memory the kernel must zero first, and a third one cost stat 5 ms
// of CPU time on 3 M events for no wall time), so memory stays constant. Blocks arrive in
// file order; the thread stops after the first block that ends the stream (end of file,
// damage, an I/O error, or the footer).
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "block_loader.hpp"

namespace labyrinth::traces {

class ReadAheadThread {
 public:
  ReadAheadThread(int fd, std::string path, std::uint64_t file_size, std::uint64_t from, EventsLoad events,
                  UnreadColumns unread);
  ~ReadAheadThread();  // stops the thread and waits for it
  ReadAheadThread(const ReadAheadThread&) = delete;
  ReadAheadThread& operator=(const ReadAheadThread&) = delete;

  // The next block, waiting for it if needed. Valid until the next call.
  LoadedBlock& next();

 private:
  static constexpr std::size_t kDepth = 1;
  void run(std::uint64_t from, EventsLoad events);

  BlockLoader loader_;
  std::array<LoadedBlock, kDepth + 1> blocks_;  // + the one the consumer holds
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LoadedBlock*> free_;
  std::deque<LoadedBlock*> ready_;
  LoadedBlock* held_ = nullptr;
  bool stop_ = false;
  bool finished_ = false;  // the thread has handed over its last block
  LoadedBlock past_end_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace labyrinth::traces
