// exceptions.cc — the registry of exception types that cross nodes as themselves.
#include "stasis/net/exceptions.h"

#include <cxxabi.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <typeindex>

#include "stasis/persist/value_codec.h"

namespace stasis::net {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, ExceptionFactory> by_name;
  std::map<std::type_index, std::string> name_of;

  void add(const std::string& name, const std::type_info& type, ExceptionFactory make) {
    std::lock_guard lock(mu);
    auto named = name_of.find(std::type_index(type));
    if (named != name_of.end()) {
      if (named->second == name) return;
      throw InvalidArgument("register_exception: C++ type '" + persist::demangle(type.name()) +
                            "' is already registered as '" + named->second + "'; register each type once");
    }
    if (by_name.count(name)) {
      throw InvalidArgument("register_exception: the name '" + name + "' is already used by another type; give '" +
                            persist::demangle(type.name()) + "' a name of its own");
    }
    by_name.emplace(name, std::move(make));
    name_of.emplace(std::type_index(type), name);
  }
};

template <class E>
void add_standard(Registry& r) {
  r.add(persist::demangle(typeid(E).name()), typeid(E),
        [](const std::string& message) { return std::make_exception_ptr(E(message)); });
}

Registry& registry() {
  static Registry* r = [] {
    auto* fresh = new Registry;  // lives for the program: exceptions may cross during static destruction
    add_standard<std::runtime_error>(*fresh);
    add_standard<std::logic_error>(*fresh);
    add_standard<std::invalid_argument>(*fresh);
    add_standard<std::domain_error>(*fresh);
    add_standard<std::length_error>(*fresh);
    add_standard<std::out_of_range>(*fresh);
    add_standard<std::range_error>(*fresh);
    add_standard<std::overflow_error>(*fresh);
    add_standard<std::underflow_error>(*fresh);
    return fresh;
  }();
  return *r;
}

}  // namespace

RemoteException::RemoteException(std::string type_name, std::string message, const std::string& where)
    : NetError("an exception of type '" + type_name + "' raised " + where + ": " + message +
               " (register the type with stasis::net::register_exception on both nodes to receive it as itself)"),
      type_name_(std::move(type_name)),
      message_(std::move(message)) {}

void register_exception(const std::string& name, const std::type_info& type, ExceptionFactory make) {
  registry().add(name, type, std::move(make));
}

ExceptionDescription describe_exception(std::exception_ptr e) {
  ExceptionDescription d;
  try {
    std::rethrow_exception(e);
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type) {
      Registry& r = registry();
      std::lock_guard lock(r.mu);
      auto it = r.name_of.find(std::type_index(*type));
      d.type = it != r.name_of.end() ? it->second : persist::demangle(type->name());
    } else {
      d.type = "unknown";
    }
    try {
      throw;
    } catch (const std::exception& x) {
      d.message = x.what();
    } catch (...) {
    }
  }
  return d;
}

std::exception_ptr rebuild_exception(const ExceptionDescription& d, const std::string& where) {
  ExceptionFactory make;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    if (auto it = r.by_name.find(d.type); it != r.by_name.end()) make = it->second;
  }
  if (make) return make(d.message);
  return std::make_exception_ptr(RemoteException(d.type, d.message, where));
}

}  // namespace stasis::net
