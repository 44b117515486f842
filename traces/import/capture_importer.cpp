#include "labyrinth/traces/import/capture_importer.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <istream>
#include <span>
#include <streambuf>
#include <utility>

#include "labyrinth/traces/import/format_sniffer.hpp"
#include "labyrinth/traces/text_trace.hpp"
#include "labyrinth/traces/trace_error.hpp"
#include "labyrinth/traces/trace_reader.hpp"
#include "labyrinth/common/output_file.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::traces::import {
namespace {

constexpr std::size_t kShownLineChars = 160;
constexpr std::size_t kMaxOtherEventNames = 64;
constexpr std::size_t kMaxUnknownGfpNames = 32;
constexpr std::uint32_t kDefaultMaxOrder = 10;

using common::errno_text;

// A std::streambuf over an InputSource, for the text twin's istream-based converter.
class InputStreambuf : public std::streambuf {
 public:
  explicit InputStreambuf(InputSource& source) : source_(source), buffer_(std::size_t{1} << 16, '\0') {}

 protected:
  int_type underflow() override {
    const std::size_t n = source_.read(buffer_.data(), buffer_.size());
    if (n == 0) return traits_type::eof();
    setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  InputSource& source_;
  std::string buffer_;
};

// Owns the comm table so that ids can be handed out before the writer exists (events wait in
// the sorter while the capture's header lines are read) and replayed into a second writer.
class WriterSink : public ParsedEventSink {
 public:
  WriterSink(std::string path, TraceHeader header, WriterOptions options)
      : path_(std::move(path)), header_(std::move(header)), options_(options) {
    ids_.emplace("", kUnknownComm);
  }
  // The importer's live report: the CPUs seen so far go into the header when it is written.
  void watch(const ImportReport& report) { report_ = &report; }

  std::uint32_t intern_comm(std::string_view comm) override {
    if (comm.empty()) return kUnknownComm;
    if (auto it = ids_.find(std::string(comm)); it != ids_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(names_.size() + 1);
    names_.emplace_back(comm);
    ids_.emplace(names_.back(), id);
    if (writer_) intern_in_writer(*writer_, id);
    return id;
  }

  void append(const PageEvent& event) override {
    if (!writer_) open_writer();
    writer_->append(event);
  }

  [[nodiscard]] bool opened() const { return writer_ != nullptr; }
  [[nodiscard]] const TraceHeader& header() const { return header_; }
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }

  void finish(const TraceFooter& footer) {
    if (!writer_) open_writer();
    writer_->finish(Snapshot{}, footer);
  }
  void close() { writer_.reset(); }

 private:
  void intern_in_writer(TraceWriter& writer, std::uint32_t id) {
    const std::uint32_t got = writer.intern_comm(names_[id - 1]);
    if (got != id) {
      throw TraceError(TraceError::Kind::Io, path_ + ": internal error: comm id " + std::to_string(got) +
                                                 " != " + std::to_string(id));
    }
  }

  void open_writer() {
    // The header is written now: take what the capture declared and the CPUs seen so far.
    if (report_ != nullptr) header_.nr_cpus = std::max<std::uint32_t>(header_.nr_cpus, report_->nr_cpus);
    writer_ = std::make_unique<TraceWriter>(path_, header_, options_);
    for (std::uint32_t id = 1; id <= names_.size(); ++id) intern_in_writer(*writer_, id);
  }

  std::string path_;
  TraceHeader header_;
  WriterOptions options_;
  const ImportReport* report_ = nullptr;
  std::unique_ptr<TraceWriter> writer_;
  std::vector<std::string> names_;  // id - 1 -> name
  std::unordered_map<std::string, std::uint32_t> ids_;
};

// Copies a finished trace into a new one with a corrected header (nr_cpus, max_order only
// become known at the end of the capture; the header is the first block of the file).
void rewrite_with_header(const std::string& from, const std::string& to, const TraceHeader& header,
                         const std::vector<std::string>& names, const TraceFooter& footer, WriterOptions options) {
  TraceReader reader(from);
  options.overwrite = false;
  TraceWriter writer(to, header, options);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (writer.intern_comm(names[i]) != i + 1) {
      throw TraceError(TraceError::Kind::Io, to + ": internal error while rewriting the process names");
    }
  }
  std::span<const PageEvent> chunk;
  while (reader.next(chunk)) {
    for (const PageEvent& event : chunk) writer.append(event);
  }
  if (reader.damage().any()) {
    throw TraceError(TraceError::Kind::Io, "rewriting " + from + ": " + reader.damage().message);
  }
  writer.finish(Snapshot{}, footer);
}

struct TempFiles {
  std::deque<std::string> paths;  // a deque: add() hands out references that must stay valid
  ~TempFiles() {
    for (const auto& p : paths) ::unlink(p.c_str());
  }
  const std::string& add(std::string path) {
    paths.push_back(std::move(path));
    return paths.back();
  }
};

std::string temp_name(const std::string& out_path, int n) {
  return out_path + ".importing-" + std::to_string(::getpid()) + (n > 0 ? "-" + std::to_string(n) : "");
}

// Fails early, before any parsing, when the output cannot be written.
void check_output(const std::string& input_name, const std::string& out_path, bool overwrite) {
  if (out_path.empty()) throw TraceError(TraceError::Kind::Io, "no output file given");
  try {
    common::check_output_target(out_path, overwrite);
  } catch (const common::OutputError& e) {
    throw TraceError(TraceError::Kind::Io, e.what());
  }
  struct stat out_st {};
  if (::stat(out_path.c_str(), &out_st) == 0) {
    struct stat in_st {};
    if (input_name != "<stdin>" && ::stat(input_name.c_str(), &in_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
      throw TraceError(TraceError::Kind::Io, out_path + ": is the input file; choose another output");
    }
  }
  const std::string probe = temp_name(out_path, 99);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw TraceError(TraceError::Kind::Io, out_path + ": cannot create: " + errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

// Puts the finished temporary file in place, by common::OutputFile's rules.
void commit_output(const std::string& tmp, const std::string& out_path, bool overwrite) {
  try {
    common::commit_temporary(tmp, out_path, overwrite);
  } catch (const common::OutputError& e) {
    throw TraceError(TraceError::Kind::Io, e.what());
  }
}

std::string describe_no_events(const ImportReport& r) {
  std::string message = r.input + ": no kmem page events found in " + std::to_string(r.lines) + " lines (read as " +
                        std::string(to_string(r.format)) + ")";
  std::vector<std::string> parts;
  if (r.losses.lines_other_events > 0) {
    std::string names;
    for (const auto& [name, count] : r.other_events) {
      if (!names.empty()) names += ", ";
      names += name;
      if (names.size() > 60) {
        names += ", ...";
        break;
      }
    }
    parts.push_back(std::to_string(r.losses.lines_other_events) + " lines of other events (" + names + ")");
  }
  if (r.losses.lines_skipped > 0) {
    std::string first = std::to_string(r.losses.lines_skipped) + " unparseable lines";
    if (!r.first_bad_lines.empty()) {
      first += ", the first at line " + std::to_string(r.first_bad_lines[0].line) + ": " + r.first_bad_lines[0].reason;
    }
    parts.push_back(first);
  }
  if (r.header_lines + r.blank_lines > 0) {
    parts.push_back(std::to_string(r.header_lines + r.blank_lines) + " header, comment or blank lines");
  }
  for (std::size_t i = 0; i < parts.size(); ++i) message += (i == 0 ? ": " : "; ") + parts[i];
  return message;
}

}  // namespace

EventImporter::EventImporter(CaptureFormat format, const GfpTable& gfp, ParsedEventSink& sink, const ImportOptions& options)
    : format_(format),
      gfp_(gfp),
      sink_(sink),
      bad_lines_kept_(options.bad_lines_kept),
      sorter_(options.reorder_window_ns, options.reorder_max_events) {
  report_.format = format;
}

void EventImporter::skip(std::uint64_t line_number, std::string_view line, std::string_view reason) {
  ++report_.losses.lines_skipped;
  if (report_.first_bad_lines.size() < bad_lines_kept_) {
    BadLine bad;
    bad.line = line_number;
    bad.reason = std::string(reason);
    bad.text = std::string(line.substr(0, kShownLineChars));
    if (line.size() > kShownLineChars) bad.text += "...";
    report_.first_bad_lines.push_back(std::move(bad));
  }
}

std::uint32_t EventImporter::comm_id(std::uint32_t tid, std::string_view comm) {
  if (comm.empty()) return kUnknownComm;
  CommCacheEntry& entry = comm_cache_[tid];
  if (entry.id != kUnknownComm && entry.comm == comm) return entry.id;
  entry.comm.assign(comm);
  entry.id = sink_.intern_comm(comm);
  return entry.id;
}

void EventImporter::emit(const PageEvent& event) {
  sink_.append(event);
  if (report_.events == 0 || event.ts_ns < report_.first_ts_ns) report_.first_ts_ns = event.ts_ns;
  if (report_.events == 0 || event.ts_ns > report_.last_ts_ns) report_.last_ts_ns = event.ts_ns;
  ++report_.events;
  ++report_.events_by_kind[static_cast<std::size_t>(event.kind)];
  ++report_.events_by_context[static_cast<std::size_t>(event.ctx)];
  if (event.failed()) ++report_.failures;
}

void EventImporter::feed(std::string_view line, std::uint64_t line_number, bool overlong) {
  ++report_.lines;
  if (overlong) {
    skip(line_number, line, "line longer than the 1 MiB limit");
    return;
  }
  const TokenizedLine t = tokenize_line(format_, line);
  switch (t.cls) {
    case LineClass::Blank: ++report_.blank_lines; return;
    case LineClass::Header:
      ++report_.header_lines;
      if (t.declared_cpus > report_.declared_cpus) {
        report_.declared_cpus = t.declared_cpus;
        report_.nr_cpus = std::max(report_.nr_cpus, static_cast<std::uint32_t>(t.declared_cpus));
      }
      if (t.overwritten > 0) {
        report_.overwritten_events += t.overwritten;
        report_.losses.lost_events += t.overwritten;
      }
      return;
    case LineClass::Lost:
      ++report_.lost_markers;
      if (t.lost_count_known) {
        report_.losses.lost_events += t.lost;
      } else {
        ++report_.lost_markers_without_count;
        report_.losses.lost_events += std::max<std::uint64_t>(t.lost, 1);
      }
      return;
    case LineClass::Bad: skip(line_number, line, t.error != nullptr ? t.error : "unrecognized line"); return;
    case LineClass::Event: break;
  }

  const auto kind = kmem_event_kind(t.event);
  if (!kind || (!t.system.empty() && t.system != tracepoint_system(*kind))) {
    ++report_.losses.lines_other_events;
    auto it = report_.other_events.find(std::string(t.event));
    if (it != report_.other_events.end()) {
      ++it->second;
    } else if (report_.other_events.size() < kMaxOtherEventNames) {
      report_.other_events.emplace(std::string(t.event), 1);
    } else {
      ++report_.other_events["(more)"];
    }
    return;
  }
  if (t.cpu > 0xffff) {
    skip(line_number, line, "cpu number out of range");
    return;
  }
  PageEvent event;
  event.ts_ns = t.ts_ns;
  event.cpu = static_cast<std::uint16_t>(std::max(t.cpu, 0));
  event.tid = t.tid;
  event.pid = t.tgid != 0 ? t.tgid : t.tid;
  event.ctx = t.ctx;
  const KmemParseResult parsed = parse_kmem_fields(*kind, t.fields, gfp_, event);
  if (!parsed.ok) {
    skip(line_number, line, std::string(t.event) + ": " + parsed.error);
    return;
  }
  if (parsed.unknown_gfp_name_count > 0) {
    ++report_.events_with_unknown_gfp;
    const std::string name(parsed.unknown_gfp_names);
    auto it = report_.unknown_gfp_names.find(name);
    if (it != report_.unknown_gfp_names.end()) {
      ++it->second;
    } else if (report_.unknown_gfp_names.size() < kMaxUnknownGfpNames) {
      report_.unknown_gfp_names.emplace(name, 1);
    }
  }
  event.comm_id = comm_id(t.tid, t.comm);
  if (t.cpu > max_cpu_) {
    max_cpu_ = t.cpu;
    report_.nr_cpus = std::max(report_.nr_cpus, static_cast<std::uint32_t>(max_cpu_ + 1));
  }
  max_order_ = std::max({max_order_, event.order, event.fallback_order});
  // One event at a time: an event is late only if a later one was released before it arrived.
  sorter_.push(std::span<const PageEvent>(&event, 1), [this](std::span<const PageEvent> released) {
    for (const PageEvent& e : released) emit(e);
  });
}

void EventImporter::finish() {
  sorter_.finish([this](std::span<const PageEvent> released) {
    for (const PageEvent& e : released) emit(e);
  });
  report_.reordered = sorter_.out_of_order() - sorter_.late();
  report_.late = sorter_.late();
  if (report_.nr_cpus == 0) report_.nr_cpus = 1;
  report_.max_order = std::max<std::uint32_t>(kDefaultMaxOrder, max_order_);
}

ImportReport import_capture(InputSource& input, const std::string& out_path, const ImportOptions& options) {
  const std::string_view head = input.peek(std::size_t{1} << 16);
  if (head.empty()) {
    throw TraceError(TraceError::Kind::BadInput, input.name() + ": empty input (0 bytes); expected " +
                                                     "ftrace, trace-cmd report or perf script text");
  }
  if (const BinaryFileKind kind = binary_file_kind(head); kind != BinaryFileKind::Text) {
    std::string hint;
    switch (kind) {
      case BinaryFileKind::PerfData: hint = "; run 'perf script -i " + input.name() + " > capture.txt' and import that"; break;
      case BinaryFileKind::TraceCmdDat:
        hint = "; run 'trace-cmd report -i " + input.name() + " > capture.txt' and import that";
        break;
      case BinaryFileKind::LabyrinthTrace: hint = "; it needs no import (try 'labyrinth stat " + input.name() + "')"; break;
      case BinaryFileKind::Text:
      case BinaryFileKind::OtherBinary: break;
    }
    throw TraceError(TraceError::Kind::BadInput,
                     input.name() + ": offset 0: this is " + std::string(to_string(kind)) + ", not a text capture" + hint);
  }
  CaptureFormat format = options.format;
  if (format == CaptureFormat::Auto) {
    const auto sniffed = sniff_capture_format(head);
    if (!sniffed) {
      throw TraceError(TraceError::Kind::BadInput,
                       input.name() + ": line 1: cannot tell the capture format from the first lines (no ftrace, "
                                      "trace-cmd report or perf script event line); name it: labyrinth import "
                                      "FORMAT ...");
    }
    format = *sniffed;
  }
  check_output(input.name(), out_path, options.writer.overwrite);
  input.set_cancel(options.cancel);

  TempFiles temps;
  const std::string& tmp = temps.add(temp_name(out_path, 0));
  WriterOptions writer_options = options.writer;
  writer_options.overwrite = false;

  if (format == CaptureFormat::Text) {
    InputStreambuf buffer(input);
    std::istream stream(&buffer);
    stream.exceptions(std::ios::badbit);
    const TextConvertResult converted = convert_text_to_trace(stream, input.name(), tmp, writer_options);
    ImportReport report;
    report.format = format;
    report.input = input.name();
    report.lines = converted.lines;
    report.events = converted.events;
    report.output = out_path;
    if (converted.events == 0) {
      throw TraceError(TraceError::Kind::BadInput,
                       input.name() + ": no events found in " + std::to_string(converted.lines) + " lines of text");
    }
    {
      TraceReader check(tmp);  // counts for the summary
      report.nr_cpus = check.header().nr_cpus;
      std::span<const PageEvent> chunk;
      while (check.next(chunk)) {
        for (const PageEvent& e : chunk) {
          ++report.events_by_kind[static_cast<std::size_t>(e.kind)];
          ++report.events_by_context[static_cast<std::size_t>(e.ctx)];
          if (e.failed()) ++report.failures;
        }
      }
      report.first_ts_ns = check.footer().first_ts_ns;
      report.last_ts_ns = check.footer().last_ts_ns;
      report.losses = check.footer().losses;
    }
    commit_output(tmp, out_path, options.writer.overwrite);
    temps.paths.clear();
    return report;
  }

  TraceHeader header;
  header.tool_version = options.tool_version;
  header.source = "import:" + std::string(to_string(format));
  header.page_size = 4096;
  header.max_order = kDefaultMaxOrder;
  header.pageblock_order = 9;
  header.nr_cpus = 0;
  header.clock = "trace-text";
  header.gfp_table = options.gfp_table;
  header.gfp_table_source = options.gfp_table_source;
  header.migratetype_names = default_migratetype_names();
  header.options["import.input"] = input.name();
  header.options["import.format"] = std::string(to_string(format));
  header.options["import.gfp_table"] =
      options.gfp_table_path.empty() ? std::string(to_string(options.gfp_table_source)) : options.gfp_table_path;

  WriterSink sink(tmp, header, writer_options);
  EventImporter importer(format, options.gfp_table, sink, options);
  sink.watch(importer.report());

  LineReader lines(input);
  std::string_view line;
  std::uint32_t until_check = 4096;
  while (lines.next(line)) {
    importer.feed(line, lines.line_number(), lines.overlong());
    if (--until_check == 0) {
      until_check = 4096;
      if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
        throw TraceError(TraceError::Kind::Io, input.name() + ": interrupted at line " +
                                                   std::to_string(lines.line_number()) + "; " + out_path +
                                                   " was not written");
      }
    }
  }
  importer.finish();
  ImportReport report = importer.report();
  report.input = input.name();
  report.bytes = lines.bytes();
  report.output = out_path;
  if (report.events == 0) {
    sink.close();
    throw TraceError(TraceError::Kind::BadInput, describe_no_events(report));
  }

  TraceFooter footer;
  footer.losses = report.losses;
  footer.stop_reason = "eof";
  sink.finish(footer);
  sink.close();
  const TraceHeader& written = sink.header();
  std::string final_tmp = tmp;
  // A capture with direct reclaim or kswapd events names what it captured, as a recording
  // does: stat pairs reclaims' begins and ends by thread, and mirror follows kswapd's passes,
  // only when the header says they are there.
  std::vector<std::string> captured;
  const auto count = [&report](EventKind k) { return report.events_by_kind[static_cast<std::size_t>(k)]; };
  if (count(EventKind::ReclaimBegin) + count(EventKind::ReclaimEnd) + count(EventKind::KswapdWake) +
          count(EventKind::KswapdSleep) !=
      0) {
    for (int k = 0; k < kEventKindCount; ++k) {
      const auto kind = static_cast<EventKind>(k);
      if (report.events_by_kind[static_cast<std::size_t>(k)] != 0) {
        captured.push_back(tracepoint_of(kind));
      }
    }
  }
  if (written.nr_cpus != report.nr_cpus || written.max_order != report.max_order || captured != written.events) {
    TraceHeader fixed = written;
    fixed.nr_cpus = report.nr_cpus;
    fixed.max_order = report.max_order;
    fixed.events = captured;
    final_tmp = temps.add(temp_name(out_path, 1));
    rewrite_with_header(tmp, final_tmp, fixed, sink.names(), footer, writer_options);
    report.header_rewritten = true;
  }
  commit_output(final_tmp, out_path, options.writer.overwrite);
  return report;
}

}  // namespace labyrinth::traces::import
