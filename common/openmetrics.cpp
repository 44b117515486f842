#include "labyrinth/common/openmetrics.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace labyrinth::common {
namespace {

bool is_name_char(char c, bool first, bool colon_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return colon_allowed;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_name_char(name[i], i == 0, colon_allowed)) return false;
  return true;
}

[[noreturn]] void refuse(std::string_view what, std::string_view name) {
  throw std::invalid_argument("metrics: " + std::string(what) + ": '" + std::string(name) + "'");
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no surrogates).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0; // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

// HELP text: OpenMetrics escapes like a label value; the 0.0.4 parser knows only `\\` and
// `\n` there and rejects any other escape, so a double quote stays as it is.
std::string escape_help(std::string_view help, MetricsDialect dialect) {
  std::string escaped = escape_label_value(help);
  if (dialect == MetricsDialect::OpenMetrics) return escaped;
  std::string out;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '\\' && i + 1 < escaped.size() && escaped[i + 1] == '"') continue;
    out += escaped[i];
    if (escaped[i] == '\\' && i + 1 < escaped.size()) out += escaped[++i];
  }
  return out;
}

std::string format_double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);  // shortest text that reads back
  return std::string(buf, r.ptr);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t n = utf8_sequence(value, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD: the formats are UTF-8, comms and paths need not be
      ++i;
      continue;
    }
    const char c = value[i];
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.append(value.substr(i, n));
    i += n;
  }
  return out;
}

MetricsDialect metrics_dialect_for_path(std::string_view path) {
  return ends_with(path, ".prom") ? MetricsDialect::PrometheusText : MetricsDialect::OpenMetrics;
}

void MetricsWriter::family(std::string_view name, MetricType type, std::string_view help, std::string_view unit) {
  if (finished_) throw std::logic_error("metrics: family after finish()");
  if (!valid_name(name, true)) refuse("invalid metric name", name);
  std::string unit_suffix("_");
  unit_suffix += unit;
  if (!unit.empty() && (!valid_name(unit, false) || !ends_with(name, unit_suffix)))
    refuse("a metric with a unit must end with " + unit_suffix, name);
  // `_total` is added to counters here; the reserved suffixes would collide with the
  // samples of other types (OpenMetrics §4.5 "MetricFamily").
  for (const std::string_view suffix : {"_total", "_created", "_count", "_sum", "_bucket", "_info"})
    if (ends_with(name, suffix)) refuse("family names must not end with " + std::string(suffix), name);
  const std::string family_name(name);
  current_ = type == MetricType::Counter ? family_name + "_total" : family_name;
  if (families_.contains(family_name) || families_.contains(current_))
    refuse("metric family declared twice", name);
  families_.insert(family_name);
  families_.insert(current_);
  current_type_ = type;
  current_label_sets_.clear();

  const char* type_name = type == MetricType::Counter ? "counter" : "gauge";
  if (dialect_ == MetricsDialect::OpenMetrics) {
    out_ += "# TYPE " + family_name + " " + type_name + "\n";
    if (!unit.empty()) out_ += "# UNIT " + family_name + " " + std::string(unit) + "\n";
    out_ += "# HELP " + family_name + " " + escape_help(help, dialect_) + "\n";
  } else {
    out_ += "# HELP " + current_ + " " + escape_help(help, dialect_) + "\n";
    out_ += "# TYPE " + current_ + " " + type_name + "\n";
  }
}

void MetricsWriter::sample_text(const MetricLabels& labels, std::string_view value_text, bool negative) {
  if (finished_) throw std::logic_error("metrics: sample after finish()");
  if (current_.empty()) throw std::logic_error("metrics: sample before any family");
  if (negative && current_type_ == MetricType::Counter) refuse("a counter cannot be negative", current_);
  std::string label_text;
  std::set<std::string_view> names;
  for (const auto& [label, value] : labels) {
    if (!valid_name(label, false) || label.starts_with("__")) refuse("invalid label name", label);
    if (!names.insert(label).second) refuse("label given twice", label);
    label_text += label_text.empty() ? "{" : ",";
    label_text += label + "=\"" + escape_label_value(value) + "\"";
  }
  if (!label_text.empty()) label_text += "}";
  if (!current_label_sets_.insert(label_text).second) refuse("the same labels twice in family", current_ + label_text);
  out_ += current_;
  out_ += label_text;
  out_ += ' ';
  out_ += value_text;
  out_ += '\n';
}

void MetricsWriter::sample(const MetricLabels& labels, double value) {
  sample_text(labels, format_double(value), value < 0 || std::isnan(value));
}

void MetricsWriter::sample(const MetricLabels& labels, std::uint64_t value) {
  sample_text(labels, std::to_string(value), false);
}

std::string MetricsWriter::finish() {
  if (finished_) throw std::logic_error("metrics: finish() twice");
  finished_ = true;
  if (dialect_ == MetricsDialect::OpenMetrics) out_ += "# EOF\n";
  return std::move(out_);
}

void MetricsWriter::write_file(const std::string& path, OutputPolicy policy) {
  common::write_file(path, finish(), policy);
}

}  // namespace labyrinth::common
