// externals.cc — the process's table of named externals (stasis/persist/native.h).
#include "externals.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "stasis/persist/native.h"

namespace stasis::persist {

namespace {

struct Table {
  std::mutex mu;
  std::map<std::string, native::External, std::less<>> by_name;
};

Table& table() {
  static Table* t = new Table();  // never destroyed: externals may be used during exit
  return *t;
}

}  // namespace

void register_external(std::string name, const void* address, std::size_t size) {
  if (name.empty()) throw InvalidArgument("register_external: an external needs a name");
  Table& t = table();
  std::lock_guard lock(t.mu);
  native::External e{name, reinterpret_cast<std::uint64_t>(address), std::max<std::size_t>(size, 1)};
  t.by_name.insert_or_assign(std::move(name), std::move(e));
}

void unregister_external(std::string_view name) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  if (auto it = t.by_name.find(name); it != t.by_name.end()) t.by_name.erase(it);
}

namespace native {

std::vector<External> externals_by_address() {
  Table& t = table();
  std::vector<External> out;
  {
    std::lock_guard lock(t.mu);
    out.reserve(t.by_name.size());
    for (const auto& [name, e] : t.by_name) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const External& a, const External& b) { return a.address < b.address; });
  return out;
}

std::optional<External> find_external(std::string_view name) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  if (auto it = t.by_name.find(name); it != t.by_name.end()) return it->second;
  return std::nullopt;
}

}  // namespace native
}  // namespace stasis::persist
