// codecs.cc — the process-wide registry of value codecs and frame persistence ops.
#include <cxxabi.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <typeindex>

#include "stasis/persist/errors.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/value_codec.h"

namespace stasis::persist {

struct ValueCodecs::Impl {
  std::mutex mu;
  std::deque<ValueCodec> codecs;  // stable addresses
  std::map<std::type_index, ValueCodec*> by_type;
  std::map<std::string, ValueCodec*> by_name;
  std::vector<std::string> conflicts;
};

ValueCodecs::ValueCodecs() : impl_(new Impl) {}

ValueCodecs& ValueCodecs::instance() {
  static ValueCodecs* registry = new ValueCodecs;  // never destroyed: codecs are used until exit
  return *registry;
}

namespace {
// Built-in types, so that snapshots holding them load in any program.
[[maybe_unused]] const bool builtins_registered = [] {
  value_codec<bool>();
  value_codec<char>();
  value_codec<std::int8_t>();
  value_codec<std::uint8_t>();
  value_codec<std::int16_t>();
  value_codec<std::uint16_t>();
  value_codec<std::int32_t>();
  value_codec<std::uint32_t>();
  value_codec<std::int64_t>();
  value_codec<std::uint64_t>();
  value_codec<float>();
  value_codec<double>();
  value_codec<std::string>();
  return true;
}();
}  // namespace

const ValueCodec& ValueCodecs::add(ValueCodec codec) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->by_type.find(std::type_index(*codec.type));
  if (it != impl_->by_type.end()) return *it->second;
  auto named = impl_->by_name.find(codec.name);
  if (named != impl_->by_name.end()) {
    impl_->conflicts.push_back("value type name '" + codec.name + "' is used by C++ types '" +
                               demangle(named->second->type->name()) + "' and '" + demangle(codec.type->name()) + "'");
  }
  ValueCodec& stored = impl_->codecs.emplace_back(std::move(codec));
  impl_->by_type.emplace(std::type_index(*stored.type), &stored);
  if (named == impl_->by_name.end()) impl_->by_name.emplace(stored.name, &stored);
  return stored;
}

bool ValueCodecs::rename(const std::type_info& type, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  ValueCodec* c = impl_->by_type.at(std::type_index(type));
  if (c->name == name) return true;
  auto named = impl_->by_name.find(name);
  if (named != impl_->by_name.end() && named->second != c) {
    impl_->conflicts.push_back("value type name '" + name + "' is used by C++ types '" +
                               demangle(named->second->type->name()) + "' and '" + demangle(type.name()) + "'");
    return false;
  }
  auto old = impl_->by_name.find(c->name);
  if (old != impl_->by_name.end() && old->second == c) impl_->by_name.erase(old);
  c->name = name;
  impl_->by_name.emplace(name, c);
  return true;
}

const ValueCodec* ValueCodecs::find(const std::type_info& type) const noexcept {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->by_type.find(std::type_index(type));
  return it == impl_->by_type.end() ? nullptr : it->second;
}

const ValueCodec* ValueCodecs::find(const std::string& name) const noexcept {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : it->second;
}

void ValueCodecs::check() const {
  std::lock_guard lock(impl_->mu);
  if (impl_->conflicts.empty()) return;
  std::string msg = "value type registry conflicts:";
  for (const std::string& c : impl_->conflicts) msg += "\n  " + c;
  throw RegistryError(msg);
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(mangled);
}

namespace detail {

bool attach_persist_ops(FramePersistOps& p) noexcept {
  FrameOps& ops = const_cast<FrameOps&>(*p.ops);
  if (ops.persist && ops.persist != &p) return false;
  ops.persist = &p;
  return true;
}

void throw_no_frame_context(const char* what) {
  throw Error(std::string(what) + " was called outside freeze/thaw of a frame; call it only from a frame's "
              "serialize(ar, version)");
}

}  // namespace detail
}  // namespace stasis::persist
