#include "labyrinth/replay/missing_attach_points.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "labyrinth/common/text.hpp"

namespace labyrinth::replay {
namespace {

struct Cost {
  std::string_view name;  // without the tracepoint's category
  std::string_view cost;
};

// What mirror (and the failure explanations) lose without each attach point the recorder
// tries; the kernel paths are docs/kernel-rules.md §10.4 and the recorder's list in README.
constexpr std::array<Cost, 12> kCosts = {{
    {"__isolate_free_page",
     "compaction's fast isolations are guessed (the kernel names only their order: data quality isolate_guessed) "
     "and the blocks free page reporting and un-isolation take are not seen; mirror's per-order end state errs in "
     "proportion to compaction's fast isolations (a wrong guess leaves two blocks wrong)"},
    {"__putback_isolated_page",
     "the blocks free page reporting and un-isolation give back are not seen: the model keeps a block it saw "
     "taken as taken (until a keyframe resynchronises it), and one it did not see taken stays free throughout"},
    {"move_freepages_block",
     "the highatomic reserve's reservations and give-backs (reserve_highatomic_pageblock, "
     "unreserve_highatomic_pageblock) are not seen: mirror reserves where the kernel would and follows what the "
     "free lists' takes show (data quality highatomic_reserve_shown, highatomic_unreserve_shown), and a failure "
     "that only the reserve decides may be judged on a reserve the kernel no longer had"},
    {"zone_counters",
     "the kernel's own zone counters at each failed allocation are not recorded: a failure is explained from the "
     "model's state alone, and one the model would serve stays unexplained or within the counters' drift"},
    {"mm_compaction_isolate_freepages",
     "compaction's free scanner is not seen: the blocks it takes stay free in the model (their later frees count "
     "as double_free) and mirror's per-order end state errs with compaction"},
    {"mm_compaction_fast_isolate_freepages",
     "compaction's fast isolations are not seen: their blocks stay free in the model (their later frees count as "
     "double_free) and mirror's per-order end state errs with compaction"},
    {"mm_setup_per_zone_wmarks",
     "a watermark recomputation during the recording (a sysctl written, memory hot-added, a lazily initialised "
     "zone growing) reaches the model at the next periodic keyframe only: failures before it are explained "
     "against the older watermarks"},
    {"mm_page_alloc_zone_locked",
     "per-CPU list refills are not seen: mirror does not model the per-CPU lists (frees go straight to the buddy "
     "lists), so its low orders differ from the kernel's by what those lists hold"},
    {"mm_page_pcpu_drain",
     "per-CPU list drains are not seen: mirror does not model the per-CPU lists (frees go straight to the buddy "
     "lists), so its low orders differ from the kernel's by what those lists hold"},
    {"mm_page_alloc_extfrag",
     "migratetype fallbacks are not seen: pageblock ownership changes and steals are missed, so the model's "
     "pageblock types and per-CPU lists drift from the kernel's"},
    {"mm_page_free_batched", "nothing: its events duplicate mm_page_free's"},
    {"task_rename", "processes keep the name they had when first seen"},
}};

constexpr std::string_view kUnknownCost = "its events are not in the trace: what they report is missing from the model";

// The recorder writes "NAME", "category:NAME" or "NAME (reason)"; labyrinth 1.2's first
// recorders appended ": cost" after the reason, and a program section may keep its
// "fexit/" prefix. Nothing else is assumed.
MissingAttachPoint parse(std::string_view entry) {
  MissingAttachPoint m;
  entry = common::trim(entry);
  const auto name_end = entry.find_first_of(" (");
  std::string_view name = entry.substr(0, name_end);
  if (const auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  m.name = std::string(name);
  if (name_end != std::string_view::npos) {
    std::string_view rest = common::trim(entry.substr(name_end));
    if (!rest.empty() && rest.front() == '(') {
      int depth = 0;
      std::size_t close = std::string_view::npos;
      for (std::size_t i = 0; i < rest.size() && close == std::string_view::npos; ++i) {
        if (rest[i] == '(') ++depth;
        if (rest[i] == ')' && --depth == 0) close = i;
      }
      m.reason = std::string(common::trim(rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1)));
    }
  }
  std::string_view bare = name;
  if (const auto colon = bare.find(':'); colon != std::string_view::npos) bare.remove_prefix(colon + 1);
  m.cost = std::string(kUnknownCost);
  for (const Cost& c : kCosts) {
    if (c.name == bare) m.cost = std::string(c.cost);
  }
  return m;
}

}  // namespace

std::vector<MissingAttachPoint> missing_attach_points(const traces::TraceHeader& header) {
  std::vector<MissingAttachPoint> out;
  for (const auto& entry : header.missing_events) {
    MissingAttachPoint m = parse(entry);
    const bool listed = std::any_of(out.begin(), out.end(), [&m](const MissingAttachPoint& o) { return o.name == m.name; });
    if (!m.name.empty() && !listed) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace labyrinth::replay
