// stasis/persist/persistent_frame.h — frame types whose instances can be frozen.
//
// STASIS_PERSISTENT_FRAME(Type, "lib.Name", version) registers Type with the frame
// registry (as STASIS_REGISTER_FRAME does) and attaches the operations that save,
// load and describe its fields, plus the codecs of every channel element type its
// fields reference. Frames of unregistered types cannot be frozen: freeze fails
// with FreezeError naming the type.
//
// Versions: by default a frame's fields are written and read through its
// STASIS_FIELDS list, and a snapshot loads only into the same registered version.
// To change a frame's fields, raise its version and give it
//   template <class Ar> void serialize(Ar& ar, unsigned version)
// which reads every older version it accepts (`if (version >= 2) ar & added;`).
// It is called with the registered version when saving and with the snapshot's
// version when loading. A snapshot newer than the registered version is refused
// with FrameVersionError.
//
// Invariant: a frame type is default-constructible (aggregate frames with default
// member initializers are); thaw creates it so and then reads its fields.
#ifndef STASIS_PERSIST_PERSISTENT_FRAME_H_
#define STASIS_PERSIST_PERSISTENT_FRAME_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stasis/persist/field_io.h"
#include "stasis/registry.h"

namespace stasis::persist {

struct FieldInfo {
  std::string name;
  std::string type;
};

struct FramePersistOps {
  const FrameOps* ops = nullptr;
  std::vector<FieldInfo> fields;
  bool custom_serialize = false;
  // Every field is written through STASIS_FIELDS and is kArchiveDecodable: frame
  // records of this type carry no field values (readers decode the archive by the
  // field types above). Otherwise each frame record describes its field values.
  bool archive_describes = false;
  // Writes the fields of `frame` (of this type) to w's archive and, unless
  // archive_describes, describes them.
  void (*save)(const FrameBase* frame, FrameWriter& w) = nullptr;
  // Creates a frame of this type and reads its fields, written with `version`.
  // The header (resume point, flags, caller) is the caller's business.
  FrameBase* (*load)(FrameReader& r, std::uint32_t version) = nullptr;
};

// The persistence operations of a frame type, or null if it was not registered
// with STASIS_PERSISTENT_FRAME.
inline const FramePersistOps* persist_ops_of(const FrameOps& ops) noexcept {
  return static_cast<const FramePersistOps*>(ops.persist);
}

template <class D>
concept HasCustomSerialize = requires(D& d, OArchive& a) { d.serialize(a, 0u); };

namespace detail {

template <class F>
void register_field_codecs() {
  if constexpr (IsChannelPtr<F>::value) {
    value_codec<typename IsChannelPtr<F>::Value>();
  } else if constexpr (ChannelContainer<F>::value) {
    value_codec<typename ChannelContainer<F>::Value>();
  }
}

// Sets the frame writer/reader visible to persist_channel for one scope.
template <class T>
class ScopedContext {
 public:
  ScopedContext(T*& slot, T* value) noexcept : slot_(slot), old_(slot) { slot_ = value; }
  ~ScopedContext() { slot_ = old_; }
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  T*& slot_;
  T* old_;
};

template <class D>
void frame_save_undescribed(const FrameBase* frame, FrameWriter& w) {
  D& d = const_cast<D&>(static_cast<const D&>(*frame));
  d.stasis_visit_fields([&](std::string_view, const auto& field) {
    if constexpr (kArchiveDecodable<std::remove_cvref_t<decltype(field)>>) save_field_only(w, field);
    else save_field(w, field);  // not reached: the type is registered with frame_save then
  });
}

template <class D>
void frame_save(const FrameBase* frame, FrameWriter& w) {
  D& d = const_cast<D&>(static_cast<const D&>(*frame));  // Boost's serialize() takes non-const
  if constexpr (HasCustomSerialize<D>) {
    ScopedContext<FrameWriter> scope(tls_frame_writer, &w);
    d.serialize(w.archive(), ::stasis::detail::FrameOpsFor<D>::ops.version);
    d.stasis_visit_fields([&](std::string_view, const auto& field) { describe_field(w, field); });
  } else {
    d.stasis_visit_fields([&](std::string_view, const auto& field) { save_field(w, field); });
  }
}

template <class D>
FrameBase* frame_load(FrameReader& r, std::uint32_t version) {
  std::unique_ptr<D> d(new D{});
  if constexpr (HasCustomSerialize<D>) {
    ScopedContext<FrameReader> scope(tls_frame_reader, &r);
    d->serialize(r.archive(), version);
  } else {
    IArchive& ar = r.archive();
    d->stasis_visit_fields([&](std::string_view, auto& field) { load_field(r, ar, field); });
  }
  return d.release();
}

template <class D>
std::vector<FieldInfo> frame_field_infos() {
  std::vector<FieldInfo> infos;
  D probe{};
  probe.stasis_visit_fields([&](std::string_view name, const auto& field) {
    using F = std::remove_cvref_t<decltype(field)>;
    register_field_codecs<F>();
    infos.push_back({std::string(name), field_type_name<F>()});
  });
  return infos;
}

// Whether every field of D is kArchiveDecodable, for a D without serialize().
template <class D>
bool fields_archive_decodable() {
  if constexpr (HasCustomSerialize<D>) {
    return false;
  } else {
    bool all = true;
    D probe{};
    probe.stasis_visit_fields([&](std::string_view, const auto& field) {
      all = all && kArchiveDecodable<std::remove_cvref_t<decltype(field)>>;
    });
    return all;
  }
}

// Attaches `p` to its frame type's ops; false if another set is attached already.
bool attach_persist_ops(FramePersistOps& p) noexcept;

}  // namespace detail

template <class D>
bool register_persistent_frame(const char* name, std::uint32_t version) {
  static_assert(std::is_default_constructible_v<D>,
                "STASIS_PERSISTENT_FRAME: the frame type must be default-constructible (thaw creates it so)");
  bool ok = register_frame<D>(name, version);
  static const bool archive_describes = detail::fields_archive_decodable<D>();
  static FramePersistOps p{&::stasis::detail::FrameOpsFor<D>::ops, detail::frame_field_infos<D>(),
                           HasCustomSerialize<D>, archive_describes,
                           archive_describes ? &detail::frame_save_undescribed<D> : &detail::frame_save<D>,
                           &detail::frame_load<D>};
  return detail::attach_persist_ops(p) && ok;
}

}  // namespace stasis::persist

// Registers a frame type under a stable name and version, with persistence.
#define STASIS_PERSISTENT_FRAME(Type, name, version)                                        \
  [[maybe_unused]] static const bool STASIS_PP_CAT(stasis_persistent_frame_, __COUNTER__) = \
      ::stasis::persist::register_persistent_frame<Type>(name, version)

#endif  // STASIS_PERSIST_PERSISTENT_FRAME_H_
