// GfpTable::from_format_text / from_format_file: the GFP flag table of a kernel, read from the
// `__print_flags(REC->gfp_flags, "|", {expr, "NAME"}, ...)` list in the print fmt of the
// mm_page_alloc tracepoint format file. Each expr is a preprocessed C constant expression
// ("( unsigned long)((( gfp_t)((((1UL))) << (5)))|(( gfp_t)((((1UL))) << (11))))" on 6.10+,
// "(( gfp_t)0x20u)|..." before), evaluated here with C's integer types and conversions.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "labyrinth/traces/gfp_table.hpp"
#include "labyrinth/common/text.hpp"

namespace labyrinth::traces {
namespace {

struct Value {
  std::uint64_t v = 0;  // the bit pattern, masked to `bits`
  int bits = 32;
  bool is_signed = true;
};

std::uint64_t mask_of(int bits) { return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1; }

Value convert(Value x, int bits, bool is_signed) {
  std::uint64_t v = x.v & mask_of(x.bits);
  if (bits > x.bits && x.is_signed && x.bits < 64 && ((v >> (x.bits - 1)) & 1U) != 0) v |= ~mask_of(x.bits);
  return Value{v & mask_of(bits), bits, is_signed};
}

Value promote(Value x) { return x.bits < 32 ? convert(x, 32, true) : x; }

// C's usual arithmetic conversions for two promoted operands.
void balance(Value& a, Value& b) {
  a = promote(a);
  b = promote(b);
  if (a.bits == b.bits && a.is_signed == b.is_signed) return;
  int bits = 0;
  bool is_signed = false;
  if (a.is_signed == b.is_signed) {
    bits = std::max(a.bits, b.bits);
    is_signed = a.is_signed;
  } else {
    const Value& u = a.is_signed ? b : a;
    const Value& s = a.is_signed ? a : b;
    if (u.bits >= s.bits) {
      bits = u.bits;
      is_signed = false;
    } else {
      bits = s.bits;
      is_signed = true;
    }
  }
  a = convert(a, bits, is_signed);
  b = convert(b, bits, is_signed);
}

struct ParseError {
  std::string message;
};

class Evaluator {
 public:
  explicit Evaluator(std::string_view text) : text_(text) {}

  Value evaluate() {
    Value v = parse_or();
    skip_space();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(text_.substr(pos_, 12)) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& message) { throw ParseError{message}; }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n')) ++pos_;
  }
  bool peek_is(std::string_view s) {
    skip_space();
    return text_.substr(pos_, s.size()) == s;
  }
  bool accept(std::string_view s) {
    if (!peek_is(s)) return false;
    // "<" must not match "<<", "|" must not match "||", "&" must not match "&&".
    if (s.size() == 1 && pos_ + 1 < text_.size() && (s == "|" || s == "&") && text_[pos_ + 1] == s[0]) return false;
    pos_ += s.size();
    return true;
  }

  static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }

  std::string_view read_identifier() {
    skip_space();
    const std::size_t start = pos_;
    while (pos_ < text_.size() && ident_char(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // The type of a cast such as "( gfp_t)", "( unsigned long)", "(__force gfp_t)"; false if the
  // parenthesis at pos_ does not hold a type name (then it is a parenthesized expression).
  bool try_cast(int& bits, bool& is_signed) {
    const std::size_t save = pos_;
    if (!accept("(")) return false;
    int longs = 0;
    bool saw_unsigned = false;
    bool saw_type = false;
    bits = 32;
    is_signed = true;
    for (;;) {
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ')') break;
      const std::string_view word = read_identifier();
      if (word.empty()) {
        pos_ = save;
        return false;
      }
      if (word == "unsigned") {
        saw_unsigned = true;
      } else if (word == "signed" || word == "int" || word == "const" || word == "__force" || word == "__bitwise") {
      } else if (word == "long") {
        ++longs;
      } else if (word == "short") {
        bits = 16;
      } else if (word == "char") {
        bits = 8;
      } else if (word == "gfp_t" || word == "u32" || word == "__u32") {
        bits = 32;
        saw_unsigned = true;
      } else if (word == "u64" || word == "__u64" || word == "size_t" || word == "uint64_t") {
        bits = 64;
        saw_unsigned = true;
      } else if (word == "s64" || word == "__s64" || word == "int64_t") {
        bits = 64;
      } else if (word == "s32" || word == "__s32") {
        bits = 32;
      } else if (word == "u16" || word == "__u16") {
        bits = 16;
        saw_unsigned = true;
      } else if (word == "u8" || word == "__u8") {
        bits = 8;
        saw_unsigned = true;
      } else {
        pos_ = save;
        return false;
      }
      saw_type = true;
    }
    if (!saw_type) {
      pos_ = save;
      return false;
    }
    ++pos_;  // ')'
    if (longs > 0) bits = 64;
    is_signed = !saw_unsigned;
    return true;
  }

  Value parse_number() {
    skip_space();
    const std::size_t start = pos_;
    int base = 10;
    if (text_.substr(pos_, 2) == "0x" || text_.substr(pos_, 2) == "0X") {
      base = 16;
      pos_ += 2;
    } else if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '7') {
      base = 8;
      ++pos_;
    }
    std::uint64_t value = 0;
    std::size_t digits = 0;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0 || d >= base) break;
      if (value > (~std::uint64_t{0} - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) {
        fail("integer literal too large");
      }
      value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
      ++digits;
    }
    if (digits == 0 && base != 8) fail("malformed number at '" + std::string(text_.substr(start, 12)) + "'");
    bool u = false;
    int l = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == 'u' || c == 'U') {
        u = true;
      } else if (c == 'l' || c == 'L') {
        ++l;
      } else {
        break;
      }
      ++pos_;
    }
    if (pos_ < text_.size() && ident_char(text_[pos_])) fail("malformed number at '" + std::string(text_.substr(start, 12)) + "'");
    // C's choice of type for an integer constant (LP64).
    const bool fits_s32 = value <= 0x7fffffffULL;
    const bool fits_u32 = value <= 0xffffffffULL;
    const bool fits_s64 = value <= 0x7fffffffffffffffULL;
    if (l == 0 && !u && fits_s32) return Value{value, 32, true};
    if (l == 0 && (u || base != 10) && fits_u32) return Value{value, 32, false};
    if (!u && fits_s64) return Value{value, 64, true};
    return Value{value, 64, false};
  }

  Value parse_primary() {
    skip_space();
    if (pos_ >= text_.size()) fail("expression ends early");
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      Value v = parse_or();
      if (!accept(")")) fail("missing ')'");
      return v;
    }
    if (c >= '0' && c <= '9') return parse_number();
    if (ident_char(c)) {
      const std::string_view name = read_identifier();
      fail("unresolved identifier " + std::string(name));
    }
    fail("unexpected '" + std::string(text_.substr(pos_, 12)) + "'");
  }

  Value parse_unary() {
    int bits = 0;
    bool is_signed = false;
    if (peek_is("(") && try_cast(bits, is_signed)) return convert(parse_unary(), bits, is_signed);
    if (accept("~")) {
      Value v = promote(parse_unary());
      v.v = ~v.v & mask_of(v.bits);
      return v;
    }
    if (accept("!")) {
      const Value v = parse_unary();
      return Value{(v.v & mask_of(v.bits)) == 0 ? 1U : 0U, 32, true};
    }
    if (accept("-")) {
      Value v = promote(parse_unary());
      v.v = (~v.v + 1) & mask_of(v.bits);
      return v;
    }
    if (accept("+")) return promote(parse_unary());
    return parse_primary();
  }

  Value parse_mul() {
    Value a = parse_unary();
    while (peek_is("*")) {
      ++pos_;
      Value b = parse_unary();
      balance(a, b);
      a.v = (a.v * b.v) & mask_of(a.bits);
    }
    return a;
  }

  Value parse_add() {
    Value a = parse_mul();
    for (;;) {
      if (accept("+")) {
        Value b = parse_mul();
        balance(a, b);
        a.v = (a.v + b.v) & mask_of(a.bits);
      } else if (peek_is("-")) {
        ++pos_;
        Value b = parse_mul();
        balance(a, b);
        a.v = (a.v - b.v) & mask_of(a.bits);
      } else {
        return a;
      }
    }
  }

  Value parse_shift() {
    Value a = parse_add();
    for (;;) {
      const bool left = peek_is("<<");
      const bool right = !left && peek_is(">>");
      if (!left && !right) return a;
      pos_ += 2;
      const Value count = promote(parse_add());
      a = promote(a);
      const std::uint64_t n = count.v & mask_of(count.bits);
      if (n >= static_cast<std::uint64_t>(a.bits)) fail("shift by " + std::to_string(n) + " out of range");
      if (left) {
        a.v = (a.v << n) & mask_of(a.bits);
      } else if (a.is_signed && ((a.v >> (a.bits - 1)) & 1U) != 0) {
        a.v = ((a.v | ~mask_of(a.bits)) >> n) & mask_of(a.bits);  // arithmetic shift
      } else {
        a.v >>= n;
      }
    }
  }

  Value parse_and() {
    Value a = parse_shift();
    while (accept("&")) {
      Value b = parse_shift();
      balance(a, b);
      a.v &= b.v;
    }
    return a;
  }

  Value parse_xor() {
    Value a = parse_and();
    while (accept("^")) {
      Value b = parse_and();
      balance(a, b);
      a.v ^= b.v;
    }
    return a;
  }

  Value parse_or() {
    Value a = parse_xor();
    while (accept("|")) {
      Value b = parse_xor();
      balance(a, b);
      a.v |= b.v;
    }
    return a;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// From `pos` (just after an opening bracket), the index of the matching closing bracket at depth 0,
// or of the first top-level `stop` character; string and character literals are skipped.
std::size_t scan_to(std::string_view text, std::size_t pos, char stop) {
  int depth = 0;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '"' || c == '\'') {
      for (++pos; pos < text.size() && text[pos] != c; ++pos) {
        if (text[pos] == '\\') ++pos;
      }
      continue;
    }
    if (depth == 0 && c == stop) return pos;
    if (c == '(' || c == '{' || c == '[') ++depth;
    if (c == ')' || c == '}' || c == ']') {
      if (depth == 0) return pos;
      --depth;
    }
  }
  return std::string_view::npos;
}

using common::trim;

}  // namespace

common::Outcome<GfpTable> GfpTable::from_format_text(std::string_view format_text) {
  auto fail = [](std::string message) { return common::Outcome<GfpTable>::failed(std::move(message)); };
  static constexpr std::string_view kPrintFlags = "__print_flags(";
  std::size_t args = std::string_view::npos;
  for (std::size_t at = format_text.find(kPrintFlags); at != std::string_view::npos;
       at = format_text.find(kPrintFlags, at + 1)) {
    const std::size_t start = at + kPrintFlags.size();
    const std::size_t comma = scan_to(format_text, start, ',');
    if (comma == std::string_view::npos) break;
    if (format_text.substr(start, comma - start).find("gfp") != std::string_view::npos) {
      args = comma + 1;
      break;
    }
  }
  if (args == std::string_view::npos) return fail("no __print_flags(REC->gfp_flags, ...) list in the print fmt");
  // The delimiter argument ("|"), then the {value, "NAME"} entries up to the closing ')'.
  std::size_t pos = scan_to(format_text, args, ',');
  if (pos == std::string_view::npos) return fail("the __print_flags list ends early");
  ++pos;
  std::vector<GfpFlagName> entries;
  bool terminated = false;
  while (pos < format_text.size()) {
    while (pos < format_text.size() && (format_text[pos] == ' ' || format_text[pos] == ',' ||
                                        format_text[pos] == '\t' || format_text[pos] == '\n')) {
      ++pos;
    }
    if (pos >= format_text.size()) break;
    if (format_text[pos] == ')') {
      terminated = true;
      break;
    }
    if (format_text[pos] != '{') {
      return fail("expected '{' in the flag list at '" + std::string(format_text.substr(pos, 20)) + "'");
    }
    const std::size_t close = scan_to(format_text, pos + 1, '}');
    if (close == std::string_view::npos || format_text[close] != '}') return fail("unterminated '{' in the flag list");
    const std::string_view entry = format_text.substr(pos + 1, close - pos - 1);
    pos = close + 1;
    // Split at the last top-level comma: the value expression may contain none at top level.
    const std::size_t comma = scan_to(entry, 0, ',');
    if (comma == std::string_view::npos) return fail("flag entry without a name: {" + std::string(entry) + "}");
    const std::string_view expr = trim(entry.substr(0, comma));
    const std::string_view name_text = trim(entry.substr(comma + 1));
    if (name_text.size() < 2 || name_text.front() != '"' || name_text.back() != '"') {
      terminated = true;  // { 0, ((void *)0) } or { -1, NULL }: the end of the table
      break;
    }
    const std::string name(name_text.substr(1, name_text.size() - 2));
    Value value;
    try {
      value = Evaluator(expr).evaluate();
    } catch (const ParseError& e) {
      return fail("cannot evaluate the value of " + name + ": " + e.message +
                  (e.message.find("unresolved identifier") != std::string::npos
                       ? " (a 6.10-6.13 kernel without the GFP enum fix prints these names)"
                       : ""));
    }
    const std::uint64_t bits = convert(value, 64, false).v;
    if (bits == 0) continue;  // a flag configured out of this kernel
    entries.push_back(GfpFlagName{bits, name});
  }
  if (!terminated) return fail("the flag list has no end");
  bool has_single_bits = false;
  for (const auto& e : entries) {
    if (e.name.rfind("__GFP_", 0) == 0 && (e.mask & (e.mask - 1)) == 0) has_single_bits = true;
  }
  if (entries.empty() || !has_single_bits) return fail("the flag list has no single-bit __GFP_* entries");
  return GfpTable(std::move(entries));
}

common::Outcome<GfpTable> GfpTable::from_format_file(const std::string& path) {
  // tracefs files report size 0: read to the end instead of trusting the size.
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::Outcome<GfpTable>::failed(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return common::Outcome<GfpTable>::failed(path + ": read failed");
  auto table = from_format_text(text.str());
  if (!table) return common::Outcome<GfpTable>::failed(path + ": " + table.why());
  return table;
}

}  // namespace labyrinth::traces
