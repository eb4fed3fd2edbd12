// net_frames.cc — registrations of the migration tests' frame types.
#include "net_frames.h"

#include "stasis/net/errors.h"
#include "stasis/net/exceptions.h"

namespace stasis::test {

STASIS_PERSISTENT_FRAME(Counter, "test.net.Counter", 1);
STASIS_PERSISTENT_FRAME(Produce, "test.net.Produce", 1);
STASIS_PERSISTENT_FRAME(Square, "test.net.Square", 1);
STASIS_PERSISTENT_FRAME(Fold, "test.net.Fold", 1);
STASIS_PERSISTENT_FRAME(ReceiveOne, "test.net.ReceiveOne", 1);
STASIS_PERSISTENT_FRAME(ReceiveProbe, "test.net.ReceiveProbe", 1);
STASIS_PERSISTENT_FRAME(Wanderer, "test.net.Wanderer", 1);
STASIS_PERSISTENT_FRAME(SendRaise, "test.net.SendRaise", 1);
STASIS_PERSISTENT_FRAME(SelectThenSend, "test.net.SelectThenSend", 1);
STASIS_PERSISTENT_FRAME(Boomerang, "test.net.Boomerang", 1);

namespace {
const bool listed_registered = [] {
  net::register_exception<ListedError>("test.net.ListedError");
  return true;
}();
}  // namespace

std::exception_ptr SendRaise::make(const std::string& kind, const std::string& message) {
  if (kind == "invalid_argument") return std::make_exception_ptr(std::invalid_argument(message));
  if (kind == "out_of_range") return std::make_exception_ptr(std::out_of_range(message));
  if (kind == "listed") return std::make_exception_ptr(ListedError(message));
  return std::make_exception_ptr(UnlistedError(message));
}

std::string ReceiveProbe::classify(std::exception_ptr e, std::int64_t v) {
  if (!e) return "value " + std::to_string(v);
  try {
    std::rethrow_exception(e);
  } catch (const ChannelClosed&) {
    return "ChannelClosed";
  } catch (const ChannelDestroyed&) {
    return "ChannelDestroyed";
  } catch (const net::RemoteChannelError&) {
    return "RemoteChannelError";
  } catch (const net::RemoteException& x) {
    return "RemoteException " + x.type_name() + ": " + x.message();
  } catch (const ListedError& x) {
    return std::string("ListedError: ") + x.what();
  } catch (const std::invalid_argument& x) {
    return std::string("invalid_argument: ") + x.what();
  } catch (const std::out_of_range& x) {
    return std::string("out_of_range: ") + x.what();
  } catch (...) {
    return "other";
  }
}

}  // namespace stasis::test
