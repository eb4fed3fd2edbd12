// exception_kind.h — classifying exceptions carried as std::exception_ptr.
#ifndef STASIS_RUNTIME_EXCEPTION_KIND_H_
#define STASIS_RUNTIME_EXCEPTION_KIND_H_

#include <exception>
#include <string>

namespace stasis::detail {

// True if e holds a stasis::TaskletExit (the kill request).
bool is_tasklet_exit(const std::exception_ptr& e);

// what() of e, or a placeholder for exceptions not derived from std::exception.
std::string describe_exception(const std::exception_ptr& e);

}  // namespace stasis::detail

#endif  // STASIS_RUNTIME_EXCEPTION_KIND_H_
