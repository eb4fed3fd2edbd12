// stasis/fields.h — STASIS_FIELDS: the one list of a frame's persistent fields.
//
// A soft frame's state is its fields. Listing them once, in STASIS_FIELDS(a, b, c),
// generates everything that needs them:
//   - stasis_visit_fields(v): calls v("a", a), v("b", b), v("c", c) in order
//     (serialization, the dumper's named values, equality all visit through it).
// Invariant: the order of the list is the order of serialization; reordering it is
// a format change and needs a new frame version.
#ifndef STASIS_FIELDS_H_
#define STASIS_FIELDS_H_

#include <concepts>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>

// --- A variadic FOR_EACH (C++20 __VA_OPT__), up to 256 arguments. ---
#define STASIS_PP_PARENS ()
#define STASIS_PP_EXPAND(...) STASIS_PP_EXPAND4(STASIS_PP_EXPAND4(STASIS_PP_EXPAND4(STASIS_PP_EXPAND4(__VA_ARGS__))))
#define STASIS_PP_EXPAND4(...) STASIS_PP_EXPAND3(STASIS_PP_EXPAND3(STASIS_PP_EXPAND3(STASIS_PP_EXPAND3(__VA_ARGS__))))
#define STASIS_PP_EXPAND3(...) STASIS_PP_EXPAND2(STASIS_PP_EXPAND2(STASIS_PP_EXPAND2(STASIS_PP_EXPAND2(__VA_ARGS__))))
#define STASIS_PP_EXPAND2(...) STASIS_PP_EXPAND1(STASIS_PP_EXPAND1(STASIS_PP_EXPAND1(STASIS_PP_EXPAND1(__VA_ARGS__))))
#define STASIS_PP_EXPAND1(...) __VA_ARGS__
#define STASIS_PP_FOR_EACH(macro, ...) \
  __VA_OPT__(STASIS_PP_EXPAND(STASIS_PP_FOR_EACH_HELPER(macro, __VA_ARGS__)))
#define STASIS_PP_FOR_EACH_HELPER(macro, a1, ...) \
  macro(a1) __VA_OPT__(STASIS_PP_FOR_EACH_AGAIN STASIS_PP_PARENS(macro, __VA_ARGS__))
#define STASIS_PP_FOR_EACH_AGAIN() STASIS_PP_FOR_EACH_HELPER
#define STASIS_PP_CAT_(a, b) a##b
#define STASIS_PP_CAT(a, b) STASIS_PP_CAT_(a, b)

#define STASIS_FIELD_VISIT_(f) stasis_v(#f, f);

// Declares the frame's persistent fields. Place inside the frame struct.
#define STASIS_FIELDS(...)                                                           \
  template <class StasisVisitor>                                                     \
  void stasis_visit_fields(StasisVisitor&& stasis_v) {                               \
    STASIS_PP_FOR_EACH(STASIS_FIELD_VISIT_, __VA_ARGS__)                             \
  }                                                                                  \
  template <class StasisVisitor>                                                     \
  void stasis_visit_fields(StasisVisitor&& stasis_v) const {                         \
    STASIS_PP_FOR_EACH(STASIS_FIELD_VISIT_, __VA_ARGS__)                             \
  }

namespace stasis {

// True when T declares its fields with STASIS_FIELDS.
template <class T>
concept HasFields = requires(T& t) { t.stasis_visit_fields([](std::string_view, auto&) {}); };

template <class T>
concept Printable = requires(std::ostream& os, const T& v) { os << v; };

// Renders one field value for diagnostics and the dumper: streamed when the type
// can be streamed, an address for pointers, the C++ type name otherwise.
template <class T>
std::string field_text(const T& v) {
  if constexpr (std::is_pointer_v<T>) {
    if (v == nullptr) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(v));
    return buf;
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return '"' + v + '"';
  } else if constexpr (Printable<T>) {
    std::ostringstream os;
    os << v;
    return os.str();
  } else {
    return std::string("<") + typeid(T).name() + ">";
  }
}

// Field-by-field equality of two objects that declare STASIS_FIELDS. Fields whose
// type has no operator== compare equal only if both are the same object.
template <HasFields T>
bool fields_equal(const T& a, const T& b) {
  bool equal = true;
  std::size_t index = 0;
  a.stasis_visit_fields([&](std::string_view, const auto& fa) {
    std::size_t j = 0;
    b.stasis_visit_fields([&](std::string_view, const auto& fb) {
      if (j++ != index) return;
      using A = std::remove_cvref_t<decltype(fa)>;
      using B = std::remove_cvref_t<decltype(fb)>;
      if constexpr (std::is_same_v<A, B> && std::equality_comparable<A>) {
        if (!(fa == fb)) equal = false;
      } else {
        if (static_cast<const void*>(&fa) != static_cast<const void*>(&fb)) equal = false;
      }
    });
    ++index;
  });
  return equal;
}

}  // namespace stasis

#endif  // STASIS_FIELDS_H_
