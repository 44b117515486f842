// Where a page-allocator event came from, read off its recorded kernel stack (innermost
// frame first). The one rule for every report (stat, replay's failures, folded stacks):
//
//   1. the tracing machinery comes first: the BPF program (an unsymbolized address in the
//      module/JIT range, bpf_prog_*, a [bpf] frame), bpf_trace_run*, __bpf_trace_*,
//      perf_trace_*, trace_*. It says nothing about the caller.
//   2. then the page allocator's own entry points and wrappers: __alloc_frozen_pages,
//      alloc_pages_mpol, folio_alloc, vma_alloc_folio, __get_free_pages, the free side's
//      __free_pages, free_unref_*, ... (names compared without "_noprof" and compiler
//      suffixes such as ".constprop.0", so one list fits the kernels before and after 6.10).
//   3. the next frame is the call site. Subsystems that wrap the page allocator (slab's
//      alloc_slab_page, the page cache's filemap_alloc_folio, vmalloc) are call sites: they
//      are who asked for the pages; a larger depth shows who asked them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "labyrinth/traces/trace_metadata.hpp"

namespace labyrinth::replay {

inline constexpr unsigned kDefaultCallsiteDepth = 1;
inline constexpr unsigned kMaxCallsiteDepth = 1024;  // a trace's stacks hold at most 1024 frames

// A frame as the recorder or a text trace writes it: "do_wp_page+0x1a3",
// "nf_hook_slow+0x44 [nf_tables]", or an unsymbolized "0xffffffffc00295e9".
struct FrameName {
  std::string_view function;  // "do_wp_page"; empty when unsymbolized
  std::string_view module;    // "nf_tables"; empty for the kernel image
  bool unsymbolized = false;
};
FrameName parse_frame(std::string_view frame);

bool is_tracing_frame(std::string_view frame);
bool is_allocator_frame(std::string_view frame);

// Index of the first frame past the tracing machinery (frames.size() when there is none).
std::size_t first_traced_code_frame(const std::vector<std::string>& frames);
// Index of the call site: past the tracing machinery and the allocator's frames. A stack
// that is all allocator frames (cut short) gives its outermost frame; one with nothing but
// tracing frames gives frames.size().
std::size_t callsite_frame(const std::vector<std::string>& frames);

// The call site and the `depth - 1` frames that called it, innermost first, joined by
// " <- " (e.g. "do_wp_page+0x1a3 <- __handle_mm_fault+0x6b1"); "[unknown]" when the stack
// has no frame past the tracing machinery.
std::string callsite_of(const traces::StackTrace& stack, unsigned depth = kDefaultCallsiteDepth);

}  // namespace labyrinth::replay
