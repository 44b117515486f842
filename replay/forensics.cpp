#include "labyrinth/replay/forensics.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <span>

#include "labyrinth/allocator/metrics.hpp"

namespace labyrinth::replay {

using allocator::MigrateType;

std::string_view to_string(FailureCause cause) {
  switch (cause) {
    case FailureCause::Watermark: return "watermark";
    case FailureCause::Fragmentation: return "fragmentation";
    case FailureCause::Reserve: return "reserve";
    case FailureCause::MemcgCharge: return "memcg_charge";
    case FailureCause::ZoneUnavailable: return "zone_unavailable";
    case FailureCause::Unexplained: return "unexplained";
  }
  return "unexplained";
}

FailureCause cause_of(allocator::AllocFailure failure) {
  switch (failure) {
    case allocator::AllocFailure::Watermark: return FailureCause::Watermark;
    case allocator::AllocFailure::Fragmentation: return FailureCause::Fragmentation;
    case allocator::AllocFailure::ReserveOnly: return FailureCause::Reserve;
    case allocator::AllocFailure::ZoneUnavailable:
    case allocator::AllocFailure::InvalidOrder:
    case allocator::AllocFailure::InvalidCpu: return FailureCause::ZoneUnavailable;
    case allocator::AllocFailure::None: break;
  }
  return FailureCause::Unexplained;
}

allocator::TaskContext task_context(const traces::PageEvent& e) {
  allocator::TaskContext t;
  t.in_task = e.ctx == traces::ExecContext::Task || e.ctx == traces::ExecContext::Unknown;
  t.in_serving_softirq = e.ctx == traces::ExecContext::Softirq;
  t.memalloc = (e.task_state & traces::kTaskMemalloc) != 0;
  t.realtime = (e.task_state & traces::kTaskRealtime) != 0;
  t.oom_victim = (e.task_state & traces::kTaskOomVictim) != 0;
  return t;
}

ZoneState inspect_request(const allocator::Model& model, std::uint64_t gfp, unsigned order, unsigned cpu,
                          const allocator::TaskContext& task) {
  const allocator::RequestCheck rc = model.check_request(gfp, order, cpu, task);
  if (!rc.zone_available) return {};
  ZoneState s = zone_state_of(model, rc.slow, order);
  s.slow_ok = rc.slow_ok;
  s.slow_zones_ok = rc.slow_zones_ok;
  return s;
}

ZoneState zone_state_of(const allocator::Model& model, const allocator::WatermarkCheck& c, unsigned order) {
  ZoneState s;
  s.zone = c.zone;
  s.free_pages = c.free_pages;
  s.unusable_pages = c.unusable;
  s.watermark_pages = c.mark;
  s.effective_min_pages = c.effective_min;
  s.block_available = c.block_available;
  s.block_lists = c.block_lists;
  s.reserves_usable = c.reserves_usable;
  const allocator::ZoneMetrics m = model.metrics(c.zone);
  s.largest_free_order = m.largest_free_order;
  if (order < m.orders) {
    s.unusable_index = m.unusable_index[order];
    s.fragmentation_index = m.fragmentation_index[order];
  }
  s.pcp_pages = m.pcp_pages;
  for (unsigned o = order; o < m.orders; ++o) {
    s.reserve_blocks_at_order += m.nr_free_by_type[allocator::index_of(MigrateType::HighAtomic)][o] +
                                 m.nr_free_by_type[allocator::index_of(MigrateType::Cma)][o];
    for (unsigned t = 0; t < allocator::kPcpTypes; ++t) s.other_blocks_at_order += m.nr_free_by_type[t][o];
  }
  s.highatomic_free_pages = m.nr_free_highatomic;
  s.boost_pages = model.watermark_boost(c.zone);
  return s;
}

// The model's check (its watermarks, lowmem_reserve and the request's reductions) on the
// kernel's counts: its free pages less the highatomic ones a request without ALLOC_RESERVES may
// not use, and, for order > 0, its free lists (mm/page_alloc.c:__zone_watermark_ok). A boost
// other than the model's moves the mark by the difference (before the request's reductions:
// an upper bound for a request that has them).
KernelCheck check_with_kernel_counters(const ZoneState& s, unsigned order, const traces::ZoneCounters& c) {
  KernelCheck k;
  k.counters = c;
  const auto free = static_cast<std::int64_t>(c.free_pages);
  const std::int64_t unusable = (s.reserves_usable ? 0 : std::int64_t{c.highatomic_free}) + ((std::int64_t{1} << order) - 1);
  const std::int64_t boost_change = static_cast<std::int64_t>(c.boost) - static_cast<std::int64_t>(s.boost_pages);
  k.margin_pages = free - unusable - (s.effective_min_pages + boost_change);
  k.model_free_error = s.free_pages - free;
  if (const auto exact = c.exact_free_pages()) {
    k.exact_margin_pages = *exact - unusable - (s.effective_min_pages + boost_change);
    k.model_exact_free_error = s.free_pages - *exact;
  }
  if (order > 0) {
    k.block_available = false;
    bool reserve_block = false;
    for (unsigned o = order; o < 16; ++o) {
      for (unsigned t = 0; t < traces::kZoneCounterTypes; ++t) {
        if (!c.list_nonempty(o, t)) continue;
        if ((s.block_lists >> t & 1u) != 0) k.block_available = true;
        if (t == allocator::index_of(MigrateType::HighAtomic)) reserve_block = true;
      }
    }
    if (k.margin_pages > 0 && !k.block_available) {
      k.cause = reserve_block ? FailureCause::Reserve : FailureCause::Fragmentation;
      return k;
    }
  }
  if (k.margin_pages <= 0) {
    k.cause = k.margin_pages + (s.reserves_usable ? 0 : std::int64_t{c.highatomic_free}) > 0 ? FailureCause::Reserve
                                                                                           : FailureCause::Watermark;
  }
  return k;
}

// As the allocator classifies its own failures: below the effective min (counting every free
// page) is a watermark failure; above it only thanks to reserve pages is a reserve failure; a
// passed watermark without a block of the order is fragmentation, or reserve when only
// highatomic/CMA blocks are left.
FailureCause cause_from_state(const ZoneState& s, unsigned order) {
  if (!s.zone) return FailureCause::ZoneUnavailable;
  if (s.slow_ok) return FailureCause::Unexplained;
  if (s.margin_pages() <= 0) {
    const std::int64_t all = s.free_pages - ((std::int64_t{1} << order) - 1);
    return all > s.effective_min_pages ? FailureCause::Reserve : FailureCause::Watermark;
  }
  if (!s.block_available) return s.reserve_blocks_at_order != 0 ? FailureCause::Reserve : FailureCause::Fragmentation;
  return FailureCause::Reserve;
}

std::int64_t vmstat_drift_pages(std::uint64_t managed_pages, std::uint64_t low_minus_min, unsigned nr_cpus,
                                unsigned page_shift) {
  const auto fls = [](std::uint64_t x) { return x == 0 ? 0 : 64 - std::countl_zero(x); };
  const std::uint64_t mem = page_shift < 27 ? managed_pages >> (27 - page_shift) : managed_pages;  // in 128 MiB units
  const std::int64_t normal = std::min<std::int64_t>(125, 2 * fls(nr_cpus) * (1 + fls(mem)));
  const std::int64_t pressure =
      std::min<std::int64_t>(125, std::max<std::int64_t>(1, static_cast<std::int64_t>(low_minus_min / std::max(1u, nr_cpus))));
  return std::max(normal, pressure) * static_cast<std::int64_t>(nr_cpus);
}

void KernelCounterTally::add(const KernelCheck& k, bool lag_alone, bool model_served) {
  ++failures;
  TheirCause& row = by_their_cause[k.cause ? static_cast<std::size_t>(*k.cause) : kTheyPass];
  ++row.failures;
  if (model_served) ++row.model_served;
  free_errors.push_back(static_cast<std::uint64_t>(std::abs(k.model_free_error)));
  if (!k.model_exact_free_error) return;
  ++with_diffs;
  if (lag_alone) ++lag_only;
  exact_free_errors.push_back(static_cast<std::uint64_t>(std::abs(*k.model_exact_free_error)));
}

std::uint64_t KernelCounterTally::quantile(std::vector<std::uint64_t> values, double q) {
  if (values.empty()) return 0;
  const auto at = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

void FailureLog::append_evidence(FailureCause cause, std::string_view text) {
  for (FailureRecord& r : records_) {
    if (r.cause == cause) r.evidence += text;
  }
}

void FailureLog::add(const FailureRecord& r) {
  ++total_;
  const std::uint64_t pages = std::uint64_t{1} << (r.order & 63u);
  auto bump = [pages](Tallies& t) {
    ++t.failures;
    t.failed_pages += pages;
  };
  ++class_cause_[static_cast<std::size_t>(r.cls)][static_cast<std::size_t>(r.cause)];
  bump(order_[r.order]);
  bump(gfp_[r.gfp]);
  bump(context_[static_cast<std::size_t>(r.context) % traces::kExecContextCount]);
  bump(process_[(std::uint64_t{r.pid} << 32) | r.comm_id]);
  if (r.stack_id != traces::kNoStack) bump(stack_[r.stack_id]);
  if (r.kernel) {
    kernel_.add(*r.kernel, r.kernel_lag_alone);
    if (r.model_cause) ++kernel_.model_cause_differed;
  }
  if (observer_) observer_(r);
  if (max_records_ == 0 || records_.size() < max_records_) records_.push_back(r);
}

std::uint64_t FailureLog::by_class(FailureClass c) const {
  std::uint64_t n = 0;
  for (const auto v : class_cause_[static_cast<std::size_t>(c)]) n += v;
  return n;
}

std::uint64_t FailureLog::by_cause(FailureCause c) const {
  std::uint64_t n = 0;
  for (const auto& row : class_cause_) n += row[static_cast<std::size_t>(c)];
  return n;
}

}  // namespace labyrinth::replay
