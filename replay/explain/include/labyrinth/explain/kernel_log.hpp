// A kernel log as people paste it (dmesg, journalctl -k, syslog, serial consoles, mail
// quotes) turned into the lines the kernel printed: prefixes stripped, pieces of one printk
// line that a logger or a mail client split joined again.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace labyrinth::explain {

struct LogLine {
  std::size_t number = 0;  ///< 1-based line of the input where this line starts
  std::string text;        ///< without timestamp, syslog, level or quote prefixes
};

/// Removes `> ` quotes, `<4>` levels, `Mar  1 12:00:00 host kernel:` and ISO syslog prefixes,
/// `kern  :warn  :` (dmesg -x), `[  123.456789]` / `[Mon Apr 20 15:08:07 2020]` timestamps,
/// `[  T123]` caller ids and Android `(1)[123:comm]` tags, in any nesting.
std::string_view strip_log_prefixes(std::string_view line);

/// The whole input as kernel lines. journald's `#012` stands for a newline.
std::vector<LogLine> normalise_kernel_log(std::string_view text);

}  // namespace labyrinth::explain
