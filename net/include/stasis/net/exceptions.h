// stasis/net/exceptions.h — exceptions that cross between nodes keep their types.
//
// An exception that travels over a remote channel — send_exception by a tasklet
// on another node, or an exception sent at home that a remote receiver raises —
// crosses as a wire name and its what() message (schema/node.capnp, Raised). A
// type registered here is rebuilt as itself on the other side, so
// `catch (const std::out_of_range&)` works across nodes; both nodes must register
// it under the same name. Any other type arrives as RemoteException, which keeps
// the original type's name and message.
//
// Registered from the start, under their C++ names: std::exception's
// <stdexcept> family (runtime_error, logic_error, invalid_argument,
// domain_error, length_error, out_of_range, range_error, overflow_error,
// underflow_error). ChannelClosed and ChannelDestroyed keep their types through
// the channel protocol itself.
//
// Invariants:
//   - lookup is by exact dynamic type: a subclass of a registered type that is
//     not registered itself travels under its own (demangled) name;
//   - names and types are one-to-one; registering the same pair again is a no-op.
#ifndef STASIS_NET_EXCEPTIONS_H_
#define STASIS_NET_EXCEPTIONS_H_

#include <concepts>
#include <exception>
#include <functional>
#include <string>
#include <typeinfo>

#include "stasis/net/errors.h"

namespace stasis::net {

// An exception of a type this node has not registered, as it was raised on
// another node: what() says where and names the type; type_name() and message()
// give the original's wire name and what().
class RemoteException : public NetError {
 public:
  RemoteException(std::string type_name, std::string message, const std::string& where);
  const std::string& type_name() const noexcept { return type_name_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string type_name_;
  std::string message_;
};

// An exception as it crosses: its wire name and what().
struct ExceptionDescription {
  std::string type;
  std::string message;
};

// Makes an exception of type `type` from its message (for register_exception).
using ExceptionFactory = std::function<std::exception_ptr(const std::string& message)>;

// Registers `type` under `name`. InvalidArgument if the name is taken by another
// type or the type by another name.
void register_exception(const std::string& name, const std::type_info& type, ExceptionFactory make);

// Registers E, rebuilt from its what() message as E(message).
template <class E>
  requires std::derived_from<E, std::exception> && std::constructible_from<E, std::string>
void register_exception(const std::string& name) {
  register_exception(name, typeid(E), [](const std::string& message) { return std::make_exception_ptr(E(message)); });
}

// The wire form of `e` (not null): its registered name, or its demangled type
// name; what() if it is a std::exception, else "".
ExceptionDescription describe_exception(std::exception_ptr e);

// The exception `d` stands for: the registered type made from d.message, else a
// RemoteException whose what() mentions `where` (the channel and node).
std::exception_ptr rebuild_exception(const ExceptionDescription& d, const std::string& where);

}  // namespace stasis::net

#endif  // STASIS_NET_EXCEPTIONS_H_
