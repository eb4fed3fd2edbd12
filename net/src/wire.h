// wire.h — values and failures as they cross between nodes (schema/node.capnp).
//
// A value travels as its codec name and the codec's archive bytes; decoding
// reads the bytes through the bounded input archive, so hostile bytes give a
// typed error, never an unbounded allocation. A failure travels as a kind and a
// message and is rethrown on the calling side as the same stasis type where one
// exists (ChannelClosed, ChannelDestroyed), an exception raised at home as its
// own type if registered (stasis/net/exceptions.h), else as a stasis::net error.
#ifndef STASIS_NET_SRC_WIRE_H_
#define STASIS_NET_SRC_WIRE_H_

#include <any>
#include <exception>
#include <string>

#include "stasis/persist/value_codec.h"
#include "stasis/schema/node.capnp.h"

namespace stasis::net::wire {

// Writes `value` (of the codec's type) into b.
void encode_value(const persist::ValueCodec& codec, const std::any& value, schema::node::Value::Builder b);
// Reads r as a value of the codec's type; RemoteChannelError naming `what` if the
// type name differs or the bytes do not decode.
std::any decode_value(const persist::ValueCodec& codec, schema::node::Value::Reader r, const std::string& what);

// Fills b from an exception a home-side operation raised (null: success).
void set_failure(schema::node::Failure::Builder b, std::exception_ptr error);
void set_failure(schema::node::Failure::Builder b, schema::node::Failure::Kind kind, const std::string& message);
// An exception as it crosses (send_exception), and back: the registered type,
// or a RemoteException naming `where`.
void set_raised(schema::node::Raised::Builder b, std::exception_ptr error);
std::exception_ptr raised_exception(schema::node::Raised::Reader r, const std::string& where);
// The exception a failure stands for on the calling side (null for kind none).
// `what` names the operation and channel for the message.
std::exception_ptr failure_exception(schema::node::Failure::Reader f, const std::string& what);

}  // namespace stasis::net::wire

#endif  // STASIS_NET_SRC_WIRE_H_
