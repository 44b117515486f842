#include "labyrinth/ebpf/kallsyms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace labyrinth::ebpf {

void KernelSymbols::load(std::istream& in) {
  symbols_.clear();
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "ffffffffc0123000 t foo\t[mod]"
    std::istringstream ls(line);
    std::string addr, type, name, module;
    if (!(ls >> addr >> type >> name)) continue;
    ls >> module;
    if (type.size() != 1) continue;
    const char t = static_cast<char>(type[0] | 0x20);
    if (t != 't' && t != 'w') continue;  // text symbols only: stacks hold code addresses
    std::uint64_t a = 0;
    try {
      a = std::stoull(addr, nullptr, 16);
    } catch (const std::exception&) {
      continue;
    }
    if (a == 0) continue;
    Symbol s{a, name};
    if (!module.empty()) s.name += " " + module;
    symbols_.push_back(std::move(s));
  }
  std::stable_sort(symbols_.begin(), symbols_.end(),
                   [](const Symbol& x, const Symbol& y) { return x.address < y.address; });
}

common::Outcome<KernelSymbols> KernelSymbols::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return common::Outcome<KernelSymbols>::failed(path + ": " + std::strerror(errno));
  KernelSymbols symbols;
  symbols.load(in);
  if (symbols.symbols_.empty()) {
    return common::Outcome<KernelSymbols>::failed(path +
                                                  " shows no addresses (kernel.kptr_restrict, or missing CAP_SYSLOG)");
  }
  return symbols;
}

std::string KernelSymbols::symbolize(std::uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](std::uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return fmt::format("{:#x}", address);
  --it;
  const std::uint64_t off = address - it->address;
  // A symbol at the end of one module's text and an address far past it: do not guess.
  if (off > (1u << 20)) return fmt::format("{:#x}", address);
  const auto space = it->name.find(' ');
  if (space == std::string::npos) return fmt::format("{}+{:#x}", it->name, off);
  return fmt::format("{}+{:#x}{}", it->name.substr(0, space), off, it->name.substr(space));
}

}  // namespace labyrinth::ebpf
