// registry.cc — the process-wide frame type registry.
#include "stasis/registry.h"

#include <string>

#include "stasis/error.h"

namespace stasis {

FrameRegistry& FrameRegistry::instance() {
  static FrameRegistry registry;
  return registry;
}

bool FrameRegistry::add(FrameOps& ops, const char* name, std::uint32_t version) {
  std::string key = name ? name : "";
  if (key.empty()) {
    conflicts_.push_back(std::string("frame type ") + ops.cxx_name() + " registered with an empty name");
    return false;
  }
  if (version == 0) {
    conflicts_.push_back("frame type '" + key + "' registered with version 0 (versions start at 1)");
    return false;
  }
  auto it = by_name_.find(key);
  if (it != by_name_.end() && it->second != &ops) {
    conflicts_.push_back("frame name '" + key + "' registered by two types: " + it->second->cxx_name() + " and " +
                         ops.cxx_name() + "; give each type its own stable name");
    return false;
  }
  if (ops.name != nullptr && key != ops.name) {
    conflicts_.push_back(std::string("frame type ") + ops.cxx_name() + " registered under two names: '" + ops.name +
                         "' and '" + key + "'");
    return false;
  }
  ops.name = it == by_name_.end() ? by_name_.emplace(key, &ops).first->first.c_str() : it->first.c_str();
  ops.version = version;
  return true;
}

const FrameOps* FrameRegistry::find_or_null(const std::string& name) const noexcept {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const FrameOps& FrameRegistry::find(const std::string& name) const {
  for (const auto& c : conflicts_) {
    if (c.find("'" + name + "'") != std::string::npos) throw RegistryError(c);
  }
  const FrameOps* ops = find_or_null(name);
  if (!ops) {
    throw RegistryError("no frame type is registered under '" + name +
                        "'; link the code that defines it and register it with STASIS_REGISTER_FRAME");
  }
  return *ops;
}

void FrameRegistry::check() const {
  if (conflicts_.empty()) return;
  std::string m = "frame registry conflicts:";
  for (const auto& c : conflicts_) m += "\n  " + c;
  throw RegistryError(m);
}

std::vector<std::string> FrameRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : by_name_) out.push_back(k);
  return out;
}

}  // namespace stasis
