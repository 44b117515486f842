// The call-site rule on stacks as a 6.18 kernel records them with `labyrinth record -g`
// (the frames are real ones; offsets as the recorder writes them).
#include "labyrinth/replay/callsite.hpp"

#include <gtest/gtest.h>

namespace labyrinth::replay {
namespace {

traces::StackTrace stack(std::vector<std::string> frames) { return traces::StackTrace{1, std::move(frames)}; }

// raw_tp attach: the JIT-compiled program, unsymbolized (loaded after kallsyms was read),
// then bpf_trace_run4, then the allocator.
const std::vector<std::string> kWriteFault = {
    "0xffffffffc00295e9",          "bpf_trace_run4+0x13d",     "__alloc_frozen_pages_noprof+0x2d1",
    "alloc_pages_mpol+0x95",       "vma_alloc_folio_noprof+0x62", "do_wp_page+0x5f1",
    "__handle_mm_fault+0x9d5",     "handle_mm_fault+0x1a2",    "do_user_addr_fault+0x2c9",
    "exc_page_fault+0x7e",         "asm_exc_page_fault+0x26",
};

TEST(Callsite, SkipsTheBpfProgramTheTraceRunnerAndTheAllocator) {
  EXPECT_EQ(callsite_of(stack(kWriteFault)), "do_wp_page+0x5f1");
  EXPECT_EQ(first_traced_code_frame(kWriteFault), 2u);
  EXPECT_EQ(callsite_frame(kWriteFault), 5u);
}

TEST(Callsite, DepthKeepsTheCallersOfTheCallSite) {
  EXPECT_EQ(callsite_of(stack(kWriteFault), 2), "do_wp_page+0x5f1 <- __handle_mm_fault+0x9d5");
  EXPECT_EQ(callsite_of(stack(kWriteFault), 3), "do_wp_page+0x5f1 <- __handle_mm_fault+0x9d5 <- handle_mm_fault+0x1a2");
  // More than the stack has: what there is.
  EXPECT_EQ(callsite_of(stack(kWriteFault), 100).ends_with("<- asm_exc_page_fault+0x26"), true);
  EXPECT_EQ(callsite_of(stack(kWriteFault), 0), "do_wp_page+0x5f1");  // at least one frame
}

TEST(Callsite, ClassicTracepointWithASymbolizedProgram) {
  // tp attach: the program has a name ([bpf] module), then trace_call_bpf and perf_trace_*.
  const auto s = stack({"bpf_prog_6deef7357e7b4530_handle_mm_page_alloc+0x1a9 [bpf]", "trace_call_bpf+0xf4",
                        "perf_trace_run_bpf_submit+0x4b", "perf_trace_mm_page_alloc+0xd2",
                        "__alloc_frozen_pages_noprof+0x2d1", "alloc_pages_mpol+0x95", "alloc_pages_noprof+0x5a",
                        "skb_page_frag_refill+0x7b", "sk_page_frag_refill+0x1c", "tcp_sendmsg_locked+0x3a6"});
  EXPECT_EQ(callsite_of(s), "skb_page_frag_refill+0x7b");
  EXPECT_EQ(first_traced_code_frame(s.frames), 4u);
}

TEST(Callsite, SubsystemsThatWrapTheAllocatorAreCallSites) {
  const auto slab = stack({"0xffffffffc00295e9", "bpf_trace_run4+0x13d", "__alloc_frozen_pages_noprof+0x2d1",
                           "alloc_pages_mpol+0x95", "alloc_slab_page+0x2f", "allocate_slab+0x8b",
                           "___slab_alloc+0x5e7", "__kmalloc_cache_noprof+0x2a4", "alloc_pipe_info+0x5b"});
  EXPECT_EQ(callsite_of(slab), "alloc_slab_page+0x2f");
  const auto page_cache = stack({"0xffffffffc00295e9", "bpf_trace_run4+0x13d", "__alloc_frozen_pages_noprof+0x2d1",
                                 "alloc_pages_mpol+0x95", "folio_alloc_noprof+0x1e", "filemap_alloc_folio_noprof+0xf4",
                                 "page_cache_ra_unbounded+0x134", "filemap_get_pages+0x5cb"});
  EXPECT_EQ(callsite_of(page_cache), "filemap_alloc_folio_noprof+0xf4");
  const auto pgd = stack({"0xffffffffc00295e9", "bpf_trace_run4+0x13d", "__alloc_frozen_pages_noprof+0x2d1",
                          "alloc_pages_noprof+0x5a", "__get_free_pages_noprof+0x12", "pgd_alloc+0x2b", "mm_init+0x1e5"});
  EXPECT_EQ(callsite_of(pgd), "pgd_alloc+0x2b");
}

TEST(Callsite, PcpRefillsAndFreesSkipTheirAllocatorFrames) {
  const auto refill = stack({"0xffffffffc00295e9", "bpf_trace_run3+0xd2", "rmqueue_bulk+0x5a4",
                             "__rmqueue_pcplist+0x1b8", "get_page_from_freelist+0x2e6",
                             "__alloc_frozen_pages_noprof+0x17b", "alloc_pages_mpol+0x95",
                             "folio_alloc_mpol_noprof+0x14", "vma_alloc_folio_noprof+0x62",
                             "do_anonymous_page+0x10e", "__handle_mm_fault+0x9d5"});
  EXPECT_EQ(callsite_of(refill), "do_anonymous_page+0x10e");
  const auto free = stack({"0xffffffffc00295e9", "bpf_trace_run2+0x9c", "free_frozen_page_commit.constprop.0+0x2fe",
                           "__free_frozen_pages+0x26c", "__folio_put+0xc1", "pipe_buf_release+0x3a"});
  EXPECT_EQ(callsite_of(free), "__folio_put+0xc1");
}

TEST(Callsite, ModuleCallersKeepTheirModule) {
  const auto s = stack({"0xffffffffc00295e9", "bpf_trace_run4+0x13d", "__alloc_frozen_pages_noprof+0x2d1",
                        "alloc_pages_noprof+0x5a", "mlx5e_alloc_rx_wqe+0x3a [mlx5_core]",
                        "mlx5e_post_rx_wqes+0x96 [mlx5_core]"});
  EXPECT_EQ(callsite_of(s), "mlx5e_alloc_rx_wqe+0x3a [mlx5_core]");
  // An unsymbolized address past the allocator is a caller (a module), not the program.
  const auto unnamed = stack({"bpf_prog_6deef7357e7b4530_handle_mm_page_alloc+0x1a9 [bpf]", "bpf_trace_run4+0x13d",
                              "__alloc_frozen_pages_noprof+0x2d1", "0xffffffffc0a01234"});
  EXPECT_EQ(callsite_of(unnamed), "0xffffffffc0a01234");
}

TEST(Callsite, ShortAndUnsymbolizedStacks) {
  // Cut short inside the allocator: its outermost frame.
  EXPECT_EQ(callsite_of(stack({"0xffffffffc00295e9", "bpf_trace_run4+0x13d", "__alloc_frozen_pages_noprof+0x2d1",
                               "alloc_pages_mpol+0x95"})),
            "alloc_pages_mpol+0x95");
  EXPECT_EQ(callsite_of(stack({"0xffffffffc00295e9"})), "[unknown]");
  EXPECT_EQ(callsite_of(stack({"bpf_trace_run4+0x13d"})), "[unknown]");
  EXPECT_EQ(callsite_of(stack({})), "[unknown]");
  // No kallsyms at all (kptr_restrict): only the program's address can be told apart.
  EXPECT_EQ(callsite_of(stack({"0xffffffffc00295e9", "0xffffffff8134abcd", "0xffffffff8134bcde"})),
            "0xffffffff8134abcd");
  // Without tracing frames (an import, or a stack walk that skipped them).
  EXPECT_EQ(callsite_of(stack({"__alloc_pages_noprof+0x120", "alloc_pages_mpol+0x88", "skb_page_frag_refill+0x4a"})),
            "skb_page_frag_refill+0x4a");
}

TEST(Callsite, FrameNames) {
  const FrameName a = parse_frame("__alloc_pages_slowpath.constprop.0+0x3c1");
  EXPECT_EQ(a.function, "__alloc_pages_slowpath");
  EXPECT_FALSE(a.unsymbolized);
  const FrameName b = parse_frame("nf_hook_slow+0x44 [nf_tables]");
  EXPECT_EQ(b.function, "nf_hook_slow");
  EXPECT_EQ(b.module, "nf_tables");
  EXPECT_TRUE(parse_frame("0xffffffffc00295e9").unsymbolized);
  EXPECT_FALSE(parse_frame("0xdead_beef").unsymbolized);
  EXPECT_EQ(parse_frame("do_wp_page").function, "do_wp_page");

  for (const char* f : {"__alloc_pages_slowpath.constprop.0+0x3c1", "__alloc_frozen_pages_noprof+0x2d1",
                        "alloc_pages_mpol_noprof+0x95", "__get_free_pages+0x12", "get_zeroed_page_noprof+0x9",
                        "__folio_alloc_noprof+0x11", "free_unref_folios+0x4bc", "__free_pages+0x5f",
                        "rmqueue_pcplist+0x90"}) {
    EXPECT_TRUE(is_allocator_frame(f)) << f;
  }
  // Callers whose names look like the allocator's.
  for (const char* f : {"folio_alloc_buffers+0x2a", "free_pages_and_swap_cache+0x3f", "alloc_slab_page+0x2f",
                        "vma_alloc_anon_folio_pmd+0x30", "alloc_pages_foo+0x1 [mymod]", "0xffffffff8134abcd"}) {
    EXPECT_FALSE(is_allocator_frame(f)) << f;
  }
  EXPECT_TRUE(is_tracing_frame("bpf_trace_run4+0x13d"));
  EXPECT_TRUE(is_tracing_frame("__bpf_trace_mm_page_alloc+0x2d"));
  EXPECT_TRUE(is_tracing_frame("bpf_prog_6deef7357e7b4530_handle_mm_page_alloc+0x1a9 [bpf]"));
  EXPECT_FALSE(is_tracing_frame("do_wp_page+0x5f1"));
  EXPECT_FALSE(is_tracing_frame("0xffffffffc00295e9"));  // only by its place in the stack
}

}  // namespace
}  // namespace labyrinth::replay
