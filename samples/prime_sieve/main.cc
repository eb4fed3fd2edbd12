// prime_sieve — the README's demo: a pipeline of soft tasklets computing primes.
//
//   prime_sieve [COUNT]     (default 1000)
//
// Prints the primes found, how many tasklets the pipeline used, and what the
// scheduler did (frame steps, tasklet switches).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sieve.h"

int main(int argc, char** argv) {
  int count = 1000;
  if (argc > 1) {
    char* end = nullptr;
    long v = std::strtol(argv[1], &end, 10);
    if (!end || *end != '\0' || v < 1 || v > 1000000) {
      std::fprintf(stderr, "usage: %s [COUNT]   (COUNT: number of primes, 1..1000000)\n", argv[0]);
      return 2;
    }
    count = static_cast<int>(v);
  }

  stasis::Scheduler sched;
  std::uint64_t switches = 0;
  sched.add_switch_hook([&](stasis::Tasklet*, stasis::Tasklet* next) { switches += next != nullptr; });

  auto start = std::chrono::steady_clock::now();
  stasis::TaskletRef sieve = sched.spawn(sieve::Sieve{.count = count}, {.name = "sieve"});
  sched.run();
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto primes = sieve->result<std::vector<int>>();
  std::printf("Stasis prime sieve: the first %d primes, each found by a chain of filter tasklets\n\n", count);
  const int shown = count < 100 ? count : 100;
  for (int i = 0; i < shown; ++i) std::printf("%6d%s", primes[i], (i + 1) % 10 == 0 ? "\n" : "");
  if (shown % 10) std::printf("\n");
  if (shown < count) std::printf("   ... (%d more)\n", count - shown);
  std::printf("\nprime #%d = %d\n", count, primes.back());
  std::printf("tasklets: %d (1 sieve + 1 counter + %d filters), all finished or killed: %s\n", count + 2, count,
              sched.alive_count() == 0 ? "yes" : "no");
  std::printf("scheduler: %llu frame steps, %llu tasklet switches in %.3f s\n",
              static_cast<unsigned long long>(sched.steps()), static_cast<unsigned long long>(switches), elapsed);
  return sched.alive_count() == 0 ? 0 : 1;
}
