// Questions answered from the running kernel's BTF (/sys/kernel/btf/vmlinux): does a
// tracepoint struct have a field, and where does this CPU's preempt counter live.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labyrinth::ebpf {

inline constexpr const char* kVmlinuxBtfPath = "/sys/kernel/btf/vmlinux";

// Where the BPF program finds the per-cpu preempt counter: at `delta` bytes from this CPU's
// `runqueues` (both live in the per-cpu area, so their distance is the same on every CPU).
struct PreemptCountLocation {
  bool found = false;
  std::int64_t delta = 0;
  std::string via;     // "__preempt_count" (<6.2, >=6.15) or "pcpu_hot.preempt_count" (6.2-6.14)
  // &this_cpu_off - the counter: where the CPU's per-cpu offset lies (x86), which turns a
  // __percpu pointer into that CPU's copy (the zone records' vmstat diffs); nullopt if absent.
  std::optional<std::int64_t> cpu_offset_delta;
  std::string reason;  // why not found
};

class KernelBtf {
 public:
  // Parses a raw BTF file. Throws RecordError (Unsupported) naming the path.
  explicit KernelBtf(const std::string& path = kVmlinuxBtfPath);
  ~KernelBtf();
  KernelBtf(const KernelBtf&) = delete;
  KernelBtf& operator=(const KernelBtf&) = delete;

  [[nodiscard]] bool has_struct(std::string_view name) const;
  // A kernel function (or kfunc) with BTF, such as "bpf_rdonly_cast".
  [[nodiscard]] bool has_function(std::string_view name) const;
  [[nodiscard]] bool has_member(std::string_view struct_name, std::string_view member) const;
  // Byte offset of a member of a struct (first level only); nullopt if absent.
  [[nodiscard]] std::optional<std::uint32_t> member_offset(std::string_view struct_name,
                                                           std::string_view member) const;
  // Offset of a variable inside a DATASEC such as ".data..percpu"; nullopt if absent.
  [[nodiscard]] std::optional<std::uint64_t> datasec_var_offset(std::string_view datasec,
                                                                std::string_view var) const;

  [[nodiscard]] PreemptCountLocation locate_preempt_count() const;

  // Size of a struct ("page"), nullopt if absent.
  [[nodiscard]] std::optional<std::uint32_t> struct_size(std::string_view name) const;
  // The arguments a raw tracepoint passes (btf_trace_<name>, without the leading void *),
  // as BTF type names such as "struct page *", "unsigned int"; nullopt if unknown.
  [[nodiscard]] std::optional<std::vector<std::string>> raw_tracepoint_args(std::string_view name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace labyrinth::ebpf
