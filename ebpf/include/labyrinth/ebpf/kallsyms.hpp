// Kernel addresses to "function+0xoff [module]" through /proc/kallsyms, the way perf shows
// call sites. Loaded once; lookups are a binary search.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "labyrinth/common/outcome.hpp"

namespace labyrinth::ebpf {

class KernelSymbols {
 public:
  KernelSymbols() = default;
  // Reads a kallsyms-format stream. Symbols with address 0 (kptr_restrict) are skipped.
  void load(std::istream& in);
  // Loads /proc/kallsyms. A file that cannot be read or shows no addresses is an expected
  // outcome (recording goes on with unsymbolized stacks): why() says which.
  static common::Outcome<KernelSymbols> from_file(const std::string& path = "/proc/kallsyms");

  // "func+0x1a", "func+0x1a [mod]", or "0xffffffff81234567" when unknown.
  [[nodiscard]] std::string symbolize(std::uint64_t address) const;
  [[nodiscard]] std::size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    std::uint64_t address = 0;
    std::string name;  // with " [module]" suffix for modules
  };
  std::vector<Symbol> symbols_;
};

}  // namespace labyrinth::ebpf
