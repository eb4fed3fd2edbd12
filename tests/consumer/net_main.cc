// consumer_net — uses the installed stasis::net: a node host listening on a free
// loopback port, and an exception described as it would cross between nodes.
#include <cstdio>
#include <stdexcept>

#include <stasis/net.h>
#include <stasis/stasis.h>

int main() {
  stasis::Scheduler sched;
  stasis::net::Host host(sched, stasis::net::SharedKey::from_secret("consumer-net shared secret"));
  auto crossing = stasis::net::describe_exception(std::make_exception_ptr(std::out_of_range("index 3")));
  std::printf("consumer_net: listening on %s; crosses as %s: %s\n", host.address().c_str(), crossing.type.c_str(),
              crossing.message.c_str());
  return host.address().rfind("127.0.0.1:", 0) == 0 && crossing.type == "std::out_of_range" ? 0 : 1;
}
