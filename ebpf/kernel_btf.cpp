#include "labyrinth/ebpf/kernel_btf.hpp"

#include <bpf/btf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "labyrinth/common/text.hpp"
#include "labyrinth/ebpf/errors.hpp"

namespace labyrinth::ebpf {

struct KernelBtf::Impl {
  btf* handle = nullptr;
  ~Impl() { btf__free(handle); }

  [[nodiscard]] const btf_type* find(std::string_view name, std::uint32_t kind) const {
    const std::string n(name);
    const std::int32_t id = btf__find_by_name_kind(handle, n.c_str(), kind);
    if (id <= 0) return nullptr;
    return btf__type_by_id(handle, static_cast<std::uint32_t>(id));
  }
};

KernelBtf::KernelBtf(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->handle = btf__parse_raw(path.c_str());
  if (impl_->handle == nullptr) {
    const int err = errno;
    throw RecordError(RecordError::Kind::Unsupported, path + ": cannot read BTF: " + common::errno_text(err));
  }
}

KernelBtf::~KernelBtf() = default;

bool KernelBtf::has_struct(std::string_view name) const { return impl_->find(name, BTF_KIND_STRUCT) != nullptr; }

std::optional<std::uint32_t> KernelBtf::struct_size(std::string_view name) const {
  const btf_type* t = impl_->find(name, BTF_KIND_STRUCT);
  if (t == nullptr) return std::nullopt;
  return t->size;
}

namespace {

// "struct page *", "unsigned int", "int", "gfp_t" ... (typedef names are kept)
std::string type_name(const btf* b, std::uint32_t id) {
  std::string suffix;
  for (int depth = 0; depth < 16; ++depth) {
    const btf_type* t = btf__type_by_id(b, id);
    if (t == nullptr) return "?";
    const char* name = btf__name_by_offset(b, t->name_off);
    switch (btf_kind(t)) {
      case BTF_KIND_PTR:
        suffix = " *" + suffix;
        id = t->type;
        continue;
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        continue;
      case BTF_KIND_STRUCT:
        return std::string("struct ") + (name != nullptr ? name : "") + suffix;
      case BTF_KIND_UNION:
        return std::string("union ") + (name != nullptr ? name : "") + suffix;
      default:
        return std::string(name != nullptr && *name != 0 ? name : "?") + suffix;
    }
  }
  return "?";
}

}  // namespace

std::optional<std::vector<std::string>> KernelBtf::raw_tracepoint_args(std::string_view name) const {
  const btf_type* td = impl_->find(std::string("btf_trace_") + std::string(name), BTF_KIND_TYPEDEF);
  if (td == nullptr) return std::nullopt;
  const btf_type* ptr = btf__type_by_id(impl_->handle, td->type);
  if (ptr == nullptr || btf_kind(ptr) != BTF_KIND_PTR) return std::nullopt;
  const btf_type* proto = btf__type_by_id(impl_->handle, ptr->type);
  if (proto == nullptr || btf_kind(proto) != BTF_KIND_FUNC_PROTO) return std::nullopt;
  const btf_param* params = btf_params(proto);
  const std::uint16_t n = btf_vlen(proto);
  std::vector<std::string> args;
  for (std::uint16_t i = 1; i < n; ++i) args.push_back(type_name(impl_->handle, params[i].type));  // [0] is void *__data
  return args;
}

bool KernelBtf::has_function(std::string_view name) const { return impl_->find(name, BTF_KIND_FUNC) != nullptr; }

std::optional<std::uint32_t> KernelBtf::member_offset(std::string_view struct_name, std::string_view member) const {
  const btf_type* t = impl_->find(struct_name, BTF_KIND_STRUCT);
  if (t == nullptr) t = impl_->find(struct_name, BTF_KIND_UNION);
  if (t == nullptr) return std::nullopt;
  const btf_member* m = btf_members(t);
  const std::uint16_t n = btf_vlen(t);
  for (std::uint16_t i = 0; i < n; ++i) {
    const char* name = btf__name_by_offset(impl_->handle, m[i].name_off);
    if (name != nullptr && member == name) {
      const std::uint32_t bits = btf_member_bit_offset(t, i);
      return bits / 8;
    }
  }
  return std::nullopt;
}

bool KernelBtf::has_member(std::string_view struct_name, std::string_view member) const {
  return member_offset(struct_name, member).has_value();
}

std::optional<std::uint64_t> KernelBtf::datasec_var_offset(std::string_view datasec, std::string_view var) const {
  const btf_type* sec = impl_->find(datasec, BTF_KIND_DATASEC);
  if (sec == nullptr) return std::nullopt;
  const btf_var_secinfo* vi = btf_var_secinfos(sec);
  const std::uint16_t n = btf_vlen(sec);
  for (std::uint16_t i = 0; i < n; ++i) {
    const btf_type* v = btf__type_by_id(impl_->handle, vi[i].type);
    if (v == nullptr) continue;
    const char* name = btf__name_by_offset(impl_->handle, v->name_off);
    if (name != nullptr && var == name) return vi[i].offset;
  }
  return std::nullopt;
}

PreemptCountLocation KernelBtf::locate_preempt_count() const {
  PreemptCountLocation loc;
  constexpr std::string_view kPercpu = ".data..percpu";
  // The BPF side reaches this CPU's runqueue through current->se.cfs_rq->rq, which needs
  // CONFIG_FAIR_GROUP_SCHED.
  if (!has_member("task_struct", "se") || !has_member("sched_entity", "cfs_rq") || !has_member("cfs_rq", "rq")) {
    loc.reason = "the kernel has no sched_entity.cfs_rq (CONFIG_FAIR_GROUP_SCHED is off)";
    return loc;
  }
  const auto rq = datasec_var_offset(kPercpu, "runqueues");
  if (!rq) {
    loc.reason = "the kernel BTF has no per-cpu variable 'runqueues'";
    return loc;
  }
  const auto cpu_off = datasec_var_offset(kPercpu, "this_cpu_off");
  const auto found = [&](std::uint64_t at, std::string via) {
    loc.found = true;
    loc.delta = static_cast<std::int64_t>(at) - static_cast<std::int64_t>(*rq);
    loc.via = std::move(via);
    if (cpu_off) loc.cpu_offset_delta = static_cast<std::int64_t>(*cpu_off) - static_cast<std::int64_t>(at);
    return loc;
  };
  if (const auto pc = datasec_var_offset(kPercpu, "__preempt_count")) return found(*pc, "__preempt_count");
  if (const auto hot = datasec_var_offset(kPercpu, "pcpu_hot")) {
    if (const auto member = member_offset("pcpu_hot", "preempt_count")) return found(*hot + *member, "pcpu_hot.preempt_count");
  }
  loc.reason = "the kernel BTF has neither a per-cpu '__preempt_count' nor 'pcpu_hot.preempt_count'";
  return loc;
}

}  // namespace labyrinth::ebpf
