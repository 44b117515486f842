#include "flight_metrics.hpp"

#include "labyrinth/common/openmetrics.hpp"

namespace labyrinth::ebpf {

void write_flight_metrics(const std::string& path, const FlightFigures& f) {
  using common::MetricType;
  common::MetricsWriter w(common::metrics_dialect_for_path(path));
  w.family("labyrinth_flight_events", MetricType::Counter, "Page-allocator events that went into the ring");
  w.sample({}, f.events);
  w.family("labyrinth_flight_lost_events", MetricType::Counter, "Events lost before reaching the ring");
  w.sample({{"reason", "ringbuf_full"}}, f.ringbuf_drops);
  w.sample({{"reason", "recursion"}}, f.recursion_misses);
  w.family("labyrinth_flight_aged_out_events", MetricType::Counter, "Events dropped from the ring to make room (expected)");
  w.sample({}, f.ring_dropped_events);
  w.family("labyrinth_flight_triggers", MetricType::Counter, "Trigger hits (each failed allocation counts)");
  w.sample({}, f.triggers);
  w.family("labyrinth_flight_dumps", MetricType::Counter, "Dumps by outcome");
  w.sample({{"result", "written"}}, f.dumps);
  w.sample({{"result", "failed"}}, f.dump_failures);
  w.sample({{"result", "suppressed"}}, f.suppressed);
  w.family("labyrinth_flight_ring_capacity_bytes", MetricType::Gauge, "The ring's fixed size", "bytes");
  w.sample({}, f.ring_capacity);
  w.family("labyrinth_flight_ring_used_bytes", MetricType::Gauge, "Bytes of the blocks the ring holds", "bytes");
  w.sample({}, f.ring_used);
  w.family("labyrinth_flight_ring_memory_bytes", MetricType::Gauge, "The ring's memory: arena and index", "bytes");
  w.sample({}, f.ring_footprint);
  w.family("labyrinth_flight_ring_fill_ratio", MetricType::Gauge, "Used over capacity", "ratio");
  w.sample({}, f.ring_capacity != 0 ? static_cast<double>(f.ring_used) / static_cast<double>(f.ring_capacity) : 0.0);
  w.family("labyrinth_flight_uptime_seconds", MetricType::Gauge, "Time since recording started", "seconds");
  w.sample({}, f.uptime_s);
  w.family("labyrinth_flight_last_update_seconds", MetricType::Gauge, "Unix time of this file", "seconds");
  w.sample({}, f.updated_unix_s);
  w.write_file(path, common::OutputPolicy{true, false});
}

}  // namespace labyrinth::ebpf
