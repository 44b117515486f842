// Where a TraceSink puts events once their process name and stack are resolved: a trace file
// (WriterTarget) or the flight recorder's in-memory ring (FlightBuffer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/page_event.hpp"
#include "labyrinth/traces/trace_writer.hpp"

namespace labyrinth::ebpf {

class EventTarget {
 public:
  virtual ~EventTarget() = default;
  // Ids are small integers given in the order names first appear (0 = unknown).
  virtual std::uint32_t intern_comm(std::string_view comm) = 0;
  virtual void define_stack(std::uint32_t stack_id, std::vector<std::string> frames) = 0;
  virtual void append(const traces::PageEvent& event) = 0;
  // Ends the pending chunk.
  virtual void flush() = 0;
};

class WriterTarget final : public EventTarget {
 public:
  explicit WriterTarget(traces::TraceWriter& writer) : writer_(writer) {}
  std::uint32_t intern_comm(std::string_view comm) override { return writer_.intern_comm(comm); }
  void define_stack(std::uint32_t stack_id, std::vector<std::string> frames) override {
    writer_.define_stack(stack_id, std::move(frames));
  }
  void append(const traces::PageEvent& event) override { writer_.append(event); }
  void flush() override { writer_.flush(); }

 private:
  traces::TraceWriter& writer_;
};

}  // namespace labyrinth::ebpf
