// sieve.h — the concurrent prime sieve (Hoare/McIlroy, Go's classic) as soft tasklets.
//
// A counter tasklet sends 2, 3, 4, ... down a channel; the sieve takes the first
// number that arrives as a prime, spawns a filter tasklet that drops its
// multiples, and listens behind that filter for the next prime. After n primes
// the chain holds n filters + 1 counter; the sieve kills them and returns.
#ifndef STASIS_SAMPLES_SIEVE_H_
#define STASIS_SAMPLES_SIEVE_H_

#include <memory>
#include <vector>

#include "stasis/stasis.h"

namespace sieve {

struct Counter : stasis::Frame<Counter> {
  stasis::Channel<int>* out = nullptr;
  int next = 2;
  STASIS_FIELDS(out, next)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;; ++next) STASIS_SEND(cx, *out, next);
    STASIS_END(cx);
  }
};

struct Filter : stasis::Frame<Filter> {
  stasis::Channel<int>* in = nullptr;
  stasis::Channel<int>* out = nullptr;
  int prime = 0;
  int value = 0;
  STASIS_FIELDS(in, out, prime, value)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE(cx, *in, value);
      if (value % prime != 0) STASIS_SEND(cx, *out, value);
    }
    STASIS_END(cx);
  }
};

// Returns the first `count` primes.
struct Sieve : stasis::Frame<Sieve> {
  int count = 0;
  std::vector<int> primes;
  std::vector<std::unique_ptr<stasis::Channel<int>>> channels;  // owned: they outlive the stages
  std::vector<stasis::TaskletRef> stages;
  int prime = 0;
  STASIS_FIELDS(count, primes, prime)

  stasis::Channel<int>* new_channel() {
    channels.push_back(std::make_unique<stasis::Channel<int>>());
    return channels.back().get();
  }

  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    stages.push_back(cx.scheduler().spawn(Counter{.out = new_channel()}, {.name = "counter"}));
    while (static_cast<int>(primes.size()) < count) {
      STASIS_RECEIVE(cx, *channels.back(), prime);
      primes.push_back(prime);
      {
        stasis::Channel<int>* in = channels.back().get();
        stages.push_back(cx.scheduler().spawn(Filter{.in = in, .out = new_channel(), .prime = prime}));
      }
    }
    for (auto& stage : stages) stage->kill();
    STASIS_RETURN(cx, primes);
    STASIS_END(cx);
  }
};

}  // namespace sieve

STASIS_REGISTER_FRAME(sieve::Counter, "samples.sieve.Counter", 1);
STASIS_REGISTER_FRAME(sieve::Filter, "samples.sieve.Filter", 1);
STASIS_REGISTER_FRAME(sieve::Sieve, "samples.sieve.Sieve", 1);

#endif  // STASIS_SAMPLES_SIEVE_H_
