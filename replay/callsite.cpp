#include "labyrinth/replay/callsite.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <span>

namespace labyrinth::replay {

namespace {

// The page allocator's entry points and the wrappers every caller goes through, alloc and
// free side (mm/page_alloc.c and mm/mempolicy.c), compared with the function's base name.
constexpr std::string_view kAllocatorFunctions[] = {
    // allocation
    "__alloc_pages", "alloc_pages", "alloc_pages_mpol", "alloc_pages_node", "__alloc_pages_node",
    "alloc_pages_exact", "alloc_pages_exact_nid", "alloc_pages_vma", "alloc_pages_current", "alloc_page_interleave",
    "alloc_pages_preferred_many", "alloc_pages_bulk", "__alloc_pages_bulk", "alloc_pages_bulk_array",
    "alloc_pages_bulk_array_mempolicy", "alloc_pages_bulk_mempolicy", "alloc_pages_bulk_node", "alloc_pages_nolock",
    "alloc_frozen_pages", "__alloc_frozen_pages", "alloc_frozen_pages_nolock", "__folio_alloc", "__folio_alloc_node",
    "folio_alloc", "folio_alloc_mpol", "vma_alloc_folio", "__get_free_pages", "get_zeroed_page",
    "get_page_from_freelist", "prep_new_page", "post_alloc_hook",
    // free
    "__free_pages", "___free_pages", "free_pages", "free_pages_exact", "__free_pages_ok", "free_pages_prepare",
    "__free_frozen_pages", "free_frozen_pages", "free_frozen_pages_nolock", "free_frozen_page_commit",
    "free_pages_nolock", "free_one_page", "__free_one_page", "free_pcppages_bulk", "free_the_page",
    "free_unref_page", "free_unref_page_commit", "free_unref_page_list", "free_unref_folios",
};
// Families: the slow path and its helpers (__alloc_pages_slowpath, __alloc_pages_direct_compact,
// __alloc_pages_may_oom, ...) and the free-list takers (rmqueue_pcplist, __rmqueue_smallest, ...).
constexpr std::string_view kAllocatorPrefixes[] = {"__alloc_pages_", "rmqueue", "__rmqueue", "free_unref_"};

// What runs between the tracepoint and the BPF program's stack walk.
constexpr std::string_view kTracingPrefixes[] = {
    "bpf_prog_",    "bpf_trampoline_", "bpf_dispatcher_", "bpf_trace_run", "__bpf_trace_", "bpf_get_stack",
    "trace_",       "__trace_",        "perf_trace_",     "__traceiter_",  "__probestub_", "perf_tp_event",
};

// x86-64 puts modules and JIT-compiled BPF programs here (MODULES_VADDR..MODULES_END, with and
// without KASLR's larger kernel image); an unsymbolized leading frame in it is the program.
constexpr std::uint64_t kJitRangeStart = 0xffffffffa0000000ull;
constexpr std::uint64_t kJitRangeEnd = 0xffffffffff000000ull;

bool starts_with_any(std::string_view name, std::span<const std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [name](std::string_view p) { return name.starts_with(p); });
}

// "alloc_pages_mpol_noprof" -> "alloc_pages_mpol": memory allocation profiling (6.10) renamed
// the entry points; the frame names of both kinds of kernel compare the same.
std::string_view base_name(std::string_view function) {
  constexpr std::string_view kNoprof = "_noprof";
  if (function.ends_with(kNoprof)) function.remove_suffix(kNoprof.size());
  return function;
}

bool in_jit_range(std::string_view frame) {
  std::uint64_t address = 0;
  const char* first = frame.data() + 2;
  const char* last = frame.data() + frame.size();
  const auto [end, ec] = std::from_chars(first, last, address, 16);
  return ec == std::errc() && end == last && address >= kJitRangeStart && address < kJitRangeEnd;
}

}  // namespace

FrameName parse_frame(std::string_view frame) {
  FrameName out;
  if (frame.size() > 2 && frame.starts_with("0x") &&
      frame.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string_view::npos) {
    out.unsymbolized = true;
    return out;
  }
  const std::size_t space = frame.find(' ');
  std::string_view symbol = frame.substr(0, space);
  if (space != std::string_view::npos) {
    std::string_view rest = frame.substr(space + 1);
    if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') out.module = rest.substr(1, rest.size() - 2);
  }
  symbol = symbol.substr(0, symbol.find('+'));
  // Compiler clones: "__alloc_pages_slowpath.constprop.0", "foo.cold", "bar.isra.0".
  out.function = symbol.substr(0, symbol.find('.'));
  return out;
}

bool is_tracing_frame(std::string_view frame) {
  const FrameName name = parse_frame(frame);
  if (name.unsymbolized) return false;  // only by position: see first_traced_code_frame
  return name.module == "bpf" || starts_with_any(name.function, kTracingPrefixes);
}

bool is_allocator_frame(std::string_view frame) {
  const FrameName name = parse_frame(frame);
  if (name.unsymbolized || !name.module.empty()) return false;
  const std::string_view base = base_name(name.function);
  return std::find(std::begin(kAllocatorFunctions), std::end(kAllocatorFunctions), base) != std::end(kAllocatorFunctions) ||
         starts_with_any(base, kAllocatorPrefixes);
}

std::size_t first_traced_code_frame(const std::vector<std::string>& frames) {
  // The machinery is a leading run of tracing frames and unsymbolized addresses (a program
  // loaded after /proc/kallsyms was read has no name). Everything up to the last named
  // tracing frame in that run belongs to it, and so does an unsymbolized address in the JIT
  // range right after; an unsymbolized frame further out may be a module's code, a caller.
  std::size_t skip = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (is_tracing_frame(frames[i])) {
      skip = i + 1;
    } else if (!parse_frame(frames[i]).unsymbolized) {
      break;
    }
  }
  while (skip < frames.size() && parse_frame(frames[skip]).unsymbolized && in_jit_range(frames[skip])) ++skip;
  return skip;
}

std::size_t callsite_frame(const std::vector<std::string>& frames) {
  const std::size_t start = first_traced_code_frame(frames);
  std::size_t i = start;
  while (i < frames.size() && is_allocator_frame(frames[i])) ++i;
  if (i == frames.size() && start < frames.size()) return frames.size() - 1;  // a stack cut short
  return i;
}

std::string callsite_of(const traces::StackTrace& stack, unsigned depth) {
  const std::size_t first = callsite_frame(stack.frames);
  if (first >= stack.frames.size()) return "[unknown]";
  const std::size_t last = std::min(stack.frames.size(), first + std::max(depth, 1u));
  std::string out = stack.frames[first];
  for (std::size_t i = first + 1; i < last; ++i) {
    out += " <- ";
    out += stack.frames[i];
  }
  return out;
}

}  // namespace labyrinth::replay
