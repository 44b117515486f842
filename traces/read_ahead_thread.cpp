#include "read_ahead_thread.hpp"

namespace labyrinth::traces {
namespace {

bool ends_stream(const LoadedBlock& b) {
  return b.end_of_file || b.problem || b.io_error ||
         b.header.type == static_cast<std::uint32_t>(format::BlockType::Footer);
}

}  // namespace

ReadAheadThread::ReadAheadThread(int fd, std::string path, std::uint64_t file_size, std::uint64_t from,
                                 EventsLoad events, UnreadColumns unread)
    : loader_(fd, std::move(path), file_size) {
  loader_.skip_columns(unread);
  for (LoadedBlock& b : blocks_) free_.push_back(&b);
  thread_ = std::thread([this, from, events] { run(from, events); });
}

ReadAheadThread::~ReadAheadThread() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

LoadedBlock& ReadAheadThread::next() {
  std::unique_lock lock(mutex_);
  if (held_ != nullptr) {
    free_.push_back(held_);
    held_ = nullptr;
    changed_.notify_all();
  }
  changed_.wait(lock, [this] { return !ready_.empty() || finished_; });
  if (ready_.empty()) {  // asked past the block that ended the stream
    past_end_.end_of_file = true;
    return past_end_;
  }
  held_ = ready_.front();
  ready_.pop_front();
  return *held_;
}

void ReadAheadThread::run(std::uint64_t from, EventsLoad events) {
  std::uint64_t at = from;
  for (;;) {
    LoadedBlock* b = nullptr;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stop_ || !free_.empty(); });
      if (stop_) return;
      b = free_.back();
      free_.pop_back();
    }
    loader_.load(at, *b, events);
    at = b->next_offset;
    const bool last = ends_stream(*b);
    {
      const std::lock_guard lock(mutex_);
      ready_.push_back(b);
      finished_ = last;
    }
    changed_.notify_all();
    if (last) return;
  }
}

}  // namespace labyrinth::traces
