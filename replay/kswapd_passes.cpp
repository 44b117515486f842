#include "kswapd_passes.hpp"

#include <algorithm>

namespace labyrinth::replay::detail {

void KswapdPasses::wake(allocator::Model& model, int node) {
  if (node < 0) return;
  end_pass(model, node);
  const std::size_t zones = model.config().zones.size();
  start_boost_.resize(zones, 0);
  for (std::uint16_t z = 0; z < zones; ++z) {
    if (model.zone_config(z).node == node) start_boost_[z] = model.watermark_boost(z);
  }
  running_[static_cast<std::size_t>(node)] = true;
}

void KswapdPasses::sleep(allocator::Model& model, int node) {
  if (node < 0) return;
  end_pass(model, node);
}

void KswapdPasses::end_pass(allocator::Model& model, int node) {
  const auto n = static_cast<std::size_t>(node);
  if (n >= running_.size()) running_.resize(n + 1, false);
  if (!running_[n]) return;
  running_[n] = false;
  for (std::uint16_t z = 0; z < start_boost_.size(); ++z) {
    if (model.zone_config(z).node != node || start_boost_[z] == 0) continue;
    const std::uint64_t boost = model.watermark_boost(z);
    model.set_watermark_boost(z, boost - std::min(boost, start_boost_[z]));
    start_boost_[z] = 0;
  }
}

}  // namespace labyrinth::replay::detail
