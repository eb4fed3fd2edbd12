// net_frames.cc — registrations of the migration tests' frame types.
#include "net_frames.h"

#include "stasis/net/errors.h"

namespace stasis::test {

STASIS_PERSISTENT_FRAME(Counter, "test.net.Counter", 1);
STASIS_PERSISTENT_FRAME(Produce, "test.net.Produce", 1);
STASIS_PERSISTENT_FRAME(Square, "test.net.Square", 1);
STASIS_PERSISTENT_FRAME(Fold, "test.net.Fold", 1);
STASIS_PERSISTENT_FRAME(ReceiveOne, "test.net.ReceiveOne", 1);
STASIS_PERSISTENT_FRAME(ReceiveProbe, "test.net.ReceiveProbe", 1);
STASIS_PERSISTENT_FRAME(Wanderer, "test.net.Wanderer", 1);

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
  } catch (...) {
    return "other";
  }
}

}  // namespace stasis::test
