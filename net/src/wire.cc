// wire.cc — value and failure encoding for node RPCs.
#include "wire.h"

#include <string_view>

#include "stasis/net/errors.h"
#include "stasis/net/exceptions.h"
#include "stasis/persist/archive.h"

namespace stasis::net::wire {

using schema::node::Failure;

void encode_value(const persist::ValueCodec& codec, const std::any& value, schema::node::Value::Builder b) {
  std::string bytes;
  {
    persist::StringSink sink(bytes);
    persist::OArchive ar(sink);
    codec.save(ar, value);
  }
  b.setType(codec.name);
  b.setArchive(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size()));
}

std::any decode_value(const persist::ValueCodec& codec, schema::node::Value::Reader r, const std::string& what) {
  std::string_view type(r.getType().cStr(), r.getType().size());
  if (type != codec.name) {
    throw RemoteChannelError(what + ": a value of type '" + std::string(type) + "' arrived for a channel of '" +
                             codec.name + "'; both nodes must run programs that agree on the channel's type");
  }
  auto bytes = r.getArchive();
  persist::SpanSource source(std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size()));
  std::any out;
  try {
    persist::IArchive ar(source);
    codec.load(ar, out);
  } catch (const std::exception& e) {
    throw RemoteChannelError(what + ": the value's bytes do not decode as '" + codec.name + "': " + e.what());
  }
  if (source.remaining() != 0) {
    throw RemoteChannelError(what + ": " + std::to_string(source.remaining()) + " bytes left after a value of '" +
                             codec.name + "'; the programs disagree on the type's serialization");
  }
  return out;
}

void set_failure(Failure::Builder b, Failure::Kind kind, const std::string& message) {
  b.setKind(kind);
  b.setMessage(message);
}

void set_failure(Failure::Builder b, std::exception_ptr error) {
  if (!error) {
    b.setKind(Failure::Kind::NONE);
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const ChannelClosed& e) {
    set_failure(b, Failure::Kind::CLOSED, e.what());
  } catch (const ChannelDestroyed& e) {
    set_failure(b, Failure::Kind::DESTROYED, e.what());
  } catch (const RemoteChannelError& e) {
    set_failure(b, Failure::Kind::BAD_VALUE, e.what());
  } catch (...) {
    ExceptionDescription d = describe_exception(error);
    set_failure(b, Failure::Kind::RAISED, d.type + ": " + d.message);
    set_raised(b.initRaised(), error);
  }
}

void set_raised(schema::node::Raised::Builder b, std::exception_ptr error) {
  ExceptionDescription d = describe_exception(error);
  b.setType(d.type);
  b.setMessage(d.message);
}

std::exception_ptr raised_exception(schema::node::Raised::Reader r, const std::string& where) {
  return rebuild_exception({std::string(r.getType().cStr()), std::string(r.getMessage().cStr())}, where);
}

std::exception_ptr failure_exception(Failure::Reader f, const std::string& what) {
  std::string msg = what + " (at its home node): " + std::string(f.getMessage().cStr());
  switch (f.getKind()) {
    case Failure::Kind::NONE: return nullptr;
    case Failure::Kind::CLOSED: return std::make_exception_ptr(ChannelClosed(msg));
    case Failure::Kind::DESTROYED: return std::make_exception_ptr(ChannelDestroyed(msg));
    case Failure::Kind::REFUSED: return std::make_exception_ptr(MigrationRefused(msg));
    case Failure::Kind::UNKNOWN_CHANNEL:
      return std::make_exception_ptr(RemoteChannelError(msg + "; the channel is not exported by its home node"));
    case Failure::Kind::RAISED:
      if (f.hasRaised()) return raised_exception(f.getRaised(), "at the home node of " + what);
      break;
    case Failure::Kind::BAD_VALUE: break;
  }
  return std::make_exception_ptr(RemoteChannelError(msg));
}

}  // namespace stasis::net::wire
