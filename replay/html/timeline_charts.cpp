// Per zone over time: free pages with the watermarks, boost and failures; free pages by the
// order of their blocks (stacked); the unusable-free index per order (heat strip); mixed
// pageblocks. Drawn from the replay's timeline, at most options.timeline_columns points.
#include <algorithm>
#include <cmath>
#include <map>

#include "labyrinth/replay/report_common.hpp"
#include "palette.hpp"
#include "plot.hpp"
#include "report_context.hpp"

namespace labyrinth::html {

namespace {

using replay::TimelineSample;

constexpr double kWidth = 960;
constexpr Frame kFrame{72, 34, 860, 170};

// At most `columns` samples: consecutive ones grouped, each group shown by its last state
// (as the timeline merges), its atomic counts summed.
std::vector<TimelineSample> bounded(const std::vector<TimelineSample>& samples, std::size_t columns) {
  if (samples.size() <= columns || columns == 0) return samples;
  std::vector<TimelineSample> out;
  out.reserve(columns);
  const std::size_t n = samples.size();
  for (std::size_t c = 0; c < columns; ++c) {
    const std::size_t lo = c * n / columns, hi = (c + 1) * n / columns;
    if (hi <= lo) continue;
    TimelineSample s = samples[hi - 1];
    s.atomic_allocations = s.atomic_failures = 0;
    for (std::size_t i = lo; i < hi; ++i) {
      s.atomic_allocations += samples[i].atomic_allocations;
      s.atomic_failures += samples[i].atomic_failures;
    }
    out.push_back(s);
  }
  return out;
}

// Points of a line, dropping those on a horizontal run (watermarks rarely move).
template <typename Value>
std::string polyline_points(const std::vector<TimelineSample>& v, const Scale& x, const Scale& y, const ReportContext& c,
                            Value value, bool step) {
  std::string pts;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double yv = static_cast<double>(value(v[i]));
    const bool same_prev = i > 0 && static_cast<double>(value(v[i - 1])) == yv;
    const bool same_next = i + 1 < v.size() && static_cast<double>(value(v[i + 1])) == yv;
    if (same_prev && same_next) continue;
    const double xv = x(c.seconds(v[i].ts_ns));
    if (step && i > 0 && !same_prev) pts += px(xv) + "," + px(y(static_cast<double>(value(v[i - 1])))) + " ";
    pts += px(xv) + "," + px(y(yv)) + " ";
  }
  return pts;
}

struct TimeAxis {
  Scale x;
  double end_s = 0;
};

TimeAxis time_axis(const ReportContext& c, const std::vector<TimelineSample>& v) {
  double first = c.seconds(v.front().ts_ns - std::min(v.front().ts_ns, v.front().span_ns));
  const double last = std::max(c.seconds(v.back().ts_ns), first + 1e-3);
  first = std::min(first, last);
  return {Scale{first, last, kFrame.x, kFrame.right()}, last};
}

std::string pages_tick(double v) { return count(v); }

// The highest watermark (with boost) of the samples.
std::uint64_t highest_mark(const std::vector<TimelineSample>& v) {
  std::uint64_t top = 0;
  for (const auto& s : v) top = std::max(top, s.high_pages + s.boost_pages);
  return top;
}

// ceiling == 0: the whole range; else free pages are drawn up to it (the view near the
// watermarks, where failures happen, when free memory is far above them most of the time).
// brief: the markers' hover text gives counts only (the forensics are on the near view).
void free_pages_chart(Markup& m, const ReportContext& c, std::uint16_t zone, const std::vector<TimelineSample>& v,
                      std::uint64_t ceiling, bool brief) {
  const TimeAxis t = time_axis(c, v);
  std::uint64_t top = 1;
  bool boosted = false;
  bool reserved = false;  // free pages in the highatomic reserve at some sample
  for (const auto& s : v) {
    top = std::max({top, s.free_pages, s.high_pages + s.boost_pages});
    boosted = boosted || s.boost_pages != 0;
    reserved = reserved || s.highatomic_free_pages != 0;
  }
  // Failures of this zone at their instant and free pages, near ones sharing a marker.
  // real: the kernel failed it (and, in simulate, the model too); predicted: the model only;
  // missed: the kernel only (simulate), at the model's free pages before it served the request.
  enum class Kind { Real, Predicted, Missed };
  struct Marker {
    double x = 0, y = 0;
    std::uint64_t n = 0;
    Kind kind = Kind::Real;
    const replay::FailureRecord* first = nullptr;
    std::map<std::string, std::uint64_t> causes;
  };
  std::map<std::pair<long, Kind>, Marker> markers;
  const double bucket_px = std::max(2.0, kFrame.w / static_cast<double>(std::max<std::size_t>(c.options.failure_markers, 1)));
  const Scale x = t.x;
  const replay::FailureLog* const logs[] = {&c.replay.failures, &c.replay.missed};
  for (const replay::FailureLog* log : logs) {
    for (const auto& f : log->records()) {
      if (!f.state.zone || *f.state.zone != zone) continue;
      top = std::max(top, static_cast<std::uint64_t>(std::max<std::int64_t>(f.state.free_pages, 0)));
    }
  }
  if (ceiling != 0) top = ceiling;
  const Scale y{0, nice_ceiling(static_cast<double>(top) * 1.05, 5), kFrame.bottom(), kFrame.y};
  const double y_max = y.d1;
  for (const replay::FailureLog* log : logs) {
    for (const auto& f : log->records()) {
      if (!f.state.zone || *f.state.zone != zone) continue;
      const Kind kind = f.model_served ? Kind::Missed : f.kernel_failed ? Kind::Real : Kind::Predicted;
      const double fx = std::clamp(x(c.seconds(f.ts_ns)), kFrame.x, kFrame.right());
      const auto bucket = std::min(static_cast<long>((fx - kFrame.x) / bucket_px),
                                   static_cast<long>(std::max<std::size_t>(c.options.failure_markers, 1) - 1));
      Marker& mk = markers[{bucket, kind}];
      if (mk.n++ == 0) {
        mk.x = fx;
        mk.y = y(std::min(static_cast<double>(std::max<std::int64_t>(f.state.free_pages, 0)), y_max));
        mk.kind = kind;
        mk.first = &f;
      }
      ++mk.causes[std::string(replay::to_string(f.cause))];
    }
  }

  open_svg(m, kWidth, 262, ceiling != 0 ? "free-pages near-watermarks" : "free-pages",
           "Free pages of " + c.zone_label(zone) + (ceiling != 0 ? " near the watermarks" : " over time") +
               ", with watermarks and failures");
  y_axis(m, kFrame, y, "free pages (" + pages_as_bytes(1, c.replay.header.page_size) + " each)", pages_tick);
  x_axis(m, kFrame, x, "time since the start of the trace (s)", seconds_label);
  if (boosted) {
    std::string band = polyline_points(v, x, y, c, [](const TimelineSample& s) { return s.high_pages + s.boost_pages; }, true);
    std::vector<TimelineSample> rev(v.rbegin(), v.rend());
    band += polyline_points(rev, x, y, c, [](const TimelineSample& s) { return s.high_pages; }, true);
    m.put("<polygon class=\"boost\" points=\"{}\" fill=\"#c7e9c0\" fill-opacity=\"0.7\"><title>watermark boost above the "
          "high watermark</title></polygon>",
          band);
  }
  // The free pages only a high-order __GFP_HIGH request may take (__zone_watermark_ok): a
  // failure above the min with most free memory in this band is the reserve's, not the watermark's.
  const std::string highatomic_colour = migratetype_colour(allocator::index_of(allocator::MigrateType::HighAtomic));
  if (reserved) {
    const double x0 = x(c.seconds(v.front().ts_ns)), x1 = x(c.seconds(v.back().ts_ns));
    m.put("<polygon class=\"highatomic\" points=\"{}{},{} {},{}\" fill=\"{}\" fill-opacity=\"0.6\"><title>free pages in "
          "the highatomic reserve</title></polygon>",
          polyline_points(v, x, y, c,
                          [y_max](const TimelineSample& s) { return std::min(static_cast<double>(s.highatomic_free_pages), y_max); },
                          false),
          px(x1), px(y(0)), px(x0), px(y(0)), highatomic_colour);
  }
  struct Mark {
    const char* name;
    const char* colour;
    std::uint64_t TimelineSample::*field;
  };
  static constexpr Mark kMarks[] = {{"min", "#c0392b", &TimelineSample::min_pages},
                                    {"low", "#e67e22", &TimelineSample::low_pages},
                                    {"high", "#27ae60", &TimelineSample::high_pages}};
  for (const Mark& mark : kMarks) {
    m.put("<polyline class=\"watermark\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\" "
          "points=\"{}\"><title>{} watermark</title></polyline>",
          mark.colour, polyline_points(v, x, y, c, [&mark](const TimelineSample& s) { return s.*mark.field; }, true),
          mark.name);
  }
  m.put("<polyline class=\"series free\" fill=\"none\" stroke=\"#1f3a93\" stroke-width=\"1.8\" points=\"{}\"/>",
        polyline_points(v, x, y, c, [y_max](const TimelineSample& s) { return std::min(static_cast<double>(s.free_pages), y_max); },
                        false));
  for (const auto& [key, mk] : markers) {
    std::string title = mk.n == 1 && !brief ? "" : fmt::format("{} failure{} here (", mk.n, mk.n == 1 ? "" : "s");
    if (mk.n != 1 || brief) {
      bool first = true;
      for (const auto& [cause, n] : mk.causes) {
        title += fmt::format("{}{} {}", first ? "" : ", ", n, cause);
        first = false;
      }
      title += brief ? fmt::format(") from {:.3f} s; the forensics are on the view near the watermarks", c.seconds(mk.first->ts_ns))
                     : "); the first:\n";
    }
    if (!brief) title += failure_summary(c, *mk.first);
    if (mk.kind == Kind::Real) {
      m.put("<path class=\"failure real\" d=\"M{} {}l5 -9l5 9z\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"0.5\"><title>",
            px(mk.x - 5), px(mk.y + 3), kFailureColour);
    } else if (mk.kind == Kind::Missed) {
      m.put("<path class=\"failure missed\" d=\"M{} {}l5 -9l5 9z\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"><title>",
            px(mk.x - 5), px(mk.y + 3), kFailureColour);
    } else {
      m.put("<circle class=\"failure predicted\" cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{}\" stroke=\"#fff\" "
            "stroke-width=\"0.5\"><title>",
            px(mk.x), px(mk.y), kPredictedColour);
    }
    m.text(title);
    m.raw(mk.kind == Kind::Predicted ? "</title></circle>" : "</title></path>");
  }
  std::vector<LegendItem> items = {{ceiling != 0 ? "free pages (cut at the top of the axis)" : "free pages", "#1f3a93",
                                    LegendItem::Shape::Line},
                                   {"min", "#c0392b", LegendItem::Shape::Dashed},
                                   {"low", "#e67e22", LegendItem::Shape::Dashed},
                                   {"high", "#27ae60", LegendItem::Shape::Dashed}};
  if (boosted) items.push_back({"boost (above high)", "#c7e9c0", LegendItem::Shape::Box});
  if (reserved) items.push_back({"of which in the highatomic reserve", highatomic_colour, LegendItem::Shape::Box});
  items.push_back({"failure", kFailureColour, LegendItem::Shape::Triangle});
  if (c.replay.mode == replay::ReplayMode::Simulate) {
    items.push_back({"predicted failure (kernel served it)", kPredictedColour, LegendItem::Shape::Circle});
    if (c.replay.missed.total() != 0) {
      items.push_back({"missed failure (the model served it)", kFailureColour, LegendItem::Shape::OpenTriangle});
    }
  }
  legend(m, kFrame.x, 16, kFrame.w, items);
  close_svg(m);
}

void order_area_chart(Markup& m, const ReportContext& c, std::uint16_t zone, const std::vector<TimelineSample>& v) {
  const TimeAxis t = time_axis(c, v);
  const unsigned orders = std::min<unsigned>(c.replay.orders, allocator::kOrderSlots);
  double top = 1;
  for (const auto& s : v) {
    double sum = 0;
    for (unsigned o = 0; o < orders; ++o) sum += static_cast<double>(s.nr_free[o]) * std::ldexp(1.0, static_cast<int>(o));
    top = std::max(top, sum);
  }
  const Scale y{0, nice_ceiling(top * 1.02, 5), kFrame.bottom(), kFrame.y};
  open_svg(m, kWidth, 262, "order-area", "Free pages of " + c.zone_label(zone) + " by the order of their free blocks");
  y_axis(m, kFrame, y, "free pages, stacked by block order", pages_tick);
  x_axis(m, kFrame, t.x, "time since the start of the trace (s)", seconds_label);
  std::vector<double> base(v.size(), 0.0);
  std::vector<LegendItem> items;
  for (unsigned o = 0; o < orders; ++o) {
    std::vector<double> upper(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      upper[i] = base[i] + static_cast<double>(v[i].nr_free[o]) * std::ldexp(1.0, static_cast<int>(o));
    }
    std::string pts;
    // A point between two of the same height adds nothing to the outline.
    const auto flat = [](const std::vector<double>& h, std::size_t i) {
      return i > 0 && i + 1 < h.size() && h[i - 1] == h[i] && h[i + 1] == h[i];
    };
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!flat(upper, i)) pts += px(t.x(c.seconds(v[i].ts_ns))) + "," + px(y(upper[i])) + " ";
    }
    for (std::size_t i = v.size(); i-- > 0;) {
      if (!flat(base, i)) pts += px(t.x(c.seconds(v[i].ts_ns))) + "," + px(y(base[i])) + " ";
    }
    const std::string colour = order_colour(o, orders);
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
    for (const auto& s : v) {
      lo = std::min(lo, s.nr_free[o]);
      hi = std::max(hi, s.nr_free[o]);
    }
    m.put("<polygon class=\"order-layer\" points=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"0.3\"><title>order {}: "
          "{} to {} free blocks of {} ({} at the end)</title></polygon>",
          pts, colour, lighten(colour, 0.3), o, lo, hi, pages_as_bytes(std::uint64_t{1} << o, c.replay.header.page_size),
          v.back().nr_free[o]);
    items.push_back({fmt::format("order {}", o), colour, LegendItem::Shape::Box});
    base = std::move(upper);
  }
  legend(m, kFrame.x, 16, kFrame.w, items);
  close_svg(m);
}

void unusable_heat_strip(Markup& m, const ReportContext& c, std::uint16_t zone, const std::vector<TimelineSample>& all) {
  const std::vector<TimelineSample> v = bounded(all, c.options.heat_columns);
  const TimeAxis t = time_axis(c, v);
  const unsigned orders = std::min<unsigned>(c.replay.orders, allocator::kOrderSlots);
  const double row = std::clamp(160.0 / orders, 8.0, 16.0);
  const Frame f{kFrame.x, 34, kFrame.w, row * orders};
  const double height = f.bottom() + 42;
  open_svg(m, kWidth, height, "unusable-heat",
           "Unusable free space index per order of " + c.zone_label(zone) + " over time (mm/vmstat.c)");
  m.put("<g class=\"axis y\"><text class=\"label\" transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">order"
        "</text>",
        px(f.x - 48), px(f.y + f.h / 2));
  for (unsigned o = 0; o < orders; ++o) {
    m.put("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", px(f.x - 6), px(f.y + row * (o + 0.5) + 4), o);
  }
  m.raw("</g>");
  x_axis(m, f, t.x, "time since the start of the trace (s)", seconds_label);
  // One rect per run of equal colour (20 levels) in a row.
  constexpr int kLevels = 20;
  for (unsigned o = 0; o < orders; ++o) {
    int row_lo = 1000, row_hi = 0;
    for (const auto& s : v) {
      row_lo = std::min(row_lo, s.unusable_index[o]);
      row_hi = std::max(row_hi, s.unusable_index[o]);
    }
    m.put("<g><title>order {}: unusable free space index {:.3f} to {:.3f}</title>", o, row_lo / 1000.0, row_hi / 1000.0);
    std::size_t i = 0;
    while (i < v.size()) {
      const int level = static_cast<int>(std::lround(std::clamp(v[i].unusable_index[o], 0, 1000) / 1000.0 * kLevels));
      std::size_t j = i + 1;
      while (j < v.size()) {
        const int u = v[j].unusable_index[o];
        if (static_cast<int>(std::lround(std::clamp(u, 0, 1000) / 1000.0 * kLevels)) != level) break;
        ++j;
      }
      const double x0 = i == 0 ? f.x : t.x(c.seconds(v[i - 1].ts_ns));
      const double x1 = t.x(c.seconds(v[j - 1].ts_ns));
      m.put("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", px(x0), px(f.y + row * o),
            px(std::max(x1 - x0, 0.5)), px(row), heat_colour(level / double(kLevels)));
      i = j;
    }
    m.raw("</g>");
  }
  m.put("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#bbb\"/>", px(f.x), px(f.y), px(f.w),
        px(f.h));
  std::vector<LegendItem> items;
  for (const double u : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    items.push_back({fmt::format("{:.2f}", u), heat_colour(u), LegendItem::Shape::Box});
  }
  items.push_back({"(0: every free page is in a block of the order or larger; 1: none is)", "", LegendItem::Shape::None});
  legend(m, f.x, 16, f.w, items);
  close_svg(m);
}

void mixed_chart(Markup& m, const ReportContext& c, std::uint16_t zone, const std::vector<TimelineSample>& v) {
  const TimeAxis t = time_axis(c, v);
  std::uint64_t top = 1;
  for (const auto& s : v) top = std::max(top, s.mixed_pageblocks);
  const Frame f{kFrame.x, 34, kFrame.w, 100};
  const Scale y{0, nice_ceiling(static_cast<double>(top) * 1.05, 4), f.bottom(), f.y};
  open_svg(m, kWidth, f.bottom() + 42, "mixed", "Mixed pageblocks of " + c.zone_label(zone) + " over time");
  y_axis(m, f, y, "pageblocks", pages_tick, 4);
  x_axis(m, f, t.x, "time since the start of the trace (s)", seconds_label);
  m.put("<polyline class=\"series mixed\" fill=\"none\" stroke=\"#8e44ad\" stroke-width=\"1.8\" points=\"{}\"/>",
        polyline_points(v, t.x, y, c, [](const TimelineSample& s) { return s.mixed_pageblocks; }, true));
  legend(m, f.x, 16, f.w,
         {{"mixed pageblocks (a mergeable type holding another type's allocations, of " +
               std::to_string(c.replay.model_config.zones[zone].spanned_pages >> c.replay.model_config.pageblock_order) +
               ")",
           "#8e44ad", LegendItem::Shape::Line}});
  close_svg(m);
}

}  // namespace

void timeline_section(Markup& m, const ReportContext& c) {
  m.raw("<section id=\"timeline\"><h2>Zones over time</h2>\n");
  const auto& r = c.replay;
  m.put("<p class=\"note\">{} samples every {} of trace time, shown as at most {} points per chart; each point is the "
        "state at the end of its interval.</p>\n",
        r.timeline_samples, replay::format_duration_ns(r.timeline_interval_ns), c.options.timeline_columns);
  if (c.charted_zones().empty()) m.raw("<p>The replay kept no timeline (no events).</p>\n");
  for (const std::uint16_t z : c.charted_zones()) {
    const std::vector<TimelineSample> v = bounded(r.timeline[z].samples, c.options.timeline_columns);
    const auto& zc = r.model_config.zones[z];
    m.put("<h3 id=\"zone-{}\">", z);
    m.text(c.zone_label(z));
    m.put(" <small>{} managed, pfn {:#x} to {:#x}</small></h3>\n<div class=\"charts\">", c.pages(zc.managed_pages),
          zc.start_pfn.value, zc.start_pfn.value + zc.spanned_pages);
    // Free memory far above the watermarks most of the time hides them: a second view.
    std::uint64_t max_free = 0;
    for (const auto& s : v) max_free = std::max(max_free, s.free_pages);
    const std::uint64_t mark = highest_mark(v);
    const bool near_view = mark != 0 && max_free > 8 * mark;
    free_pages_chart(m, c, z, v, 0, near_view);
    if (near_view) free_pages_chart(m, c, z, v, 4 * mark, false);
    order_area_chart(m, c, z, v);
    unusable_heat_strip(m, c, z, r.timeline[z].samples);
    mixed_chart(m, c, z, v);
    m.raw("</div>\n");
  }
  const std::size_t with_pages = static_cast<std::size_t>(std::count_if(
      r.model_config.zones.begin(), r.model_config.zones.end(), [](const auto& z) { return z.managed_pages != 0; }));
  if (with_pages > c.charted_zones().size()) {
    m.put("<p class=\"note\">{} smaller zones are not charted (at most {}); the JSON report of labyrinth replay has "
          "them.</p>\n",
          with_pages - c.charted_zones().size(), c.options.max_zones);
  }
  m.raw("</section>\n");
}

}  // namespace labyrinth::html
