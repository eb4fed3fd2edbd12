// model.h — the epidemic simulation's frames: every piece of simulation state.
//
// A W x H torus of regions, one soft tasklet each, runs a stochastic SIRS model
// (susceptible -> infected -> recovered -> susceptible again as immunity wanes).
// Each step a region
//   1. sends its infected count to its 4 neighbours and receives theirs (Halo);
//   2. draws new infections, recoveries and waning immunity from its own RNG;
//   3. sends a Report of its S/I/R counts to the aggregator.
// The aggregator sums the reports of each step and folds the totals, and a
// digest of every region's counts, into a 64-bit FNV-1a trajectory hash; its
// result line is the run's fingerprint.
//
// Invariants that make a run reproducible anywhere (and checkpointable):
//   - all state is in the fields listed by STASIS_FIELDS; frames point only at
//     channels (owned by the World, see world.h), never at anything else;
//   - integer arithmetic only, fixed-width types only: bit-identical on x86_64
//     and aarch64;
//   - the result does not depend on the tasklet schedule: a region's step t uses
//     only its own state and its neighbours' step-t counts, which arrive on
//     per-directed-edge FIFO channels (a value of step t+1 queues behind the one
//     of step t); the aggregator sums per step (commutative) however reports from
//     different steps interleave on its channel.
#ifndef STASIS_SAMPLES_EPIDEMIC_MODEL_H_
#define STASIS_SAMPLES_EPIDEMIC_MODEL_H_

#include <array>
#include <bit>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "stasis/stasis.h"

namespace epidemic {

// One region's counts after a step, sent to the aggregator.
struct Report {
  std::int64_t step = 0;
  std::int64_t region = 0;
  std::int64_t susceptible = 0;
  std::int64_t infected = 0;
  std::int64_t recovered = 0;
  STASIS_FIELDS(step, region, susceptible, infected, recovered)
  bool operator==(const Report&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const Report& r) {
    return os << "{step " << r.step << " region " << r.region << " S " << r.susceptible << " I " << r.infected
              << " R " << r.recovered << "}";
  }
};

using CountChannel = stasis::Channel<std::int64_t>;
using ReportChannel = stasis::Channel<Report>;

// Neighbour directions; a region's out[d] / in[d] connect it with the neighbour in
// direction d.
enum Direction : int { kNorth = 0, kEast = 1, kSouth = 2, kWest = 3 };
inline constexpr int kDirections = 4;
inline constexpr int opposite(int d) { return (d + 2) % kDirections; }

// Model parameters are Q16 fixed point (p / 65536); the infection probability,
// which gets small in large populations, is Q32 (p / 2^32).
inline constexpr std::int64_t kOne = 65536;

// splitmix64's output function: a bijective 64-bit mix.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64 (Steele, Lea, Flood): advances `state` and returns the next output.
inline std::uint64_t splitmix64(std::uint64_t& state) { return mix64(state += 0x9E3779B97F4A7C15ull); }

// Draws Binomial(n, p / 2^Bits) exactly, 64 trials at a time. For
// p / 2^Bits = 0.b1 b2 ... bBits (binary), x = b_i ? (x | r_i) : (x & r_i) over fresh
// random words r_i, from the last digit to the first, sets each bit of x with
// probability p / 2^Bits independently; the popcount of x counts the successes.
// Costs (Bits - trailing zeros of p) random words per 64 trials.
template <int Bits>
std::int64_t binomial(std::int64_t n, std::uint64_t p, std::uint64_t& rng) {
  static_assert(Bits >= 1 && Bits <= 32);
  if (n <= 0 || p == 0) return 0;
  if (p >= (std::uint64_t{1} << Bits)) return n;
  const int lowest = std::countr_zero(p);
  std::int64_t hits = 0;
  for (std::int64_t left = n; left > 0; left -= 64) {
    std::uint64_t x = 0;
    for (int b = lowest; b < Bits; ++b) {
      const std::uint64_t r = splitmix64(rng);
      x = ((p >> b) & 1u) ? (x | r) : (x & r);
    }
    if (left < 64) x &= (std::uint64_t{1} << left) - 1;
    hits += std::popcount(x);
  }
  return hits;
}

// f / (1 + f) for a force f >= 0, both Q32: a probability that is ~f for small f
// and saturates below 1. Exact (floor) for f < 1/2; above, to ~2^-16.
inline std::uint64_t saturate_q32(std::uint64_t f) {
  constexpr std::uint64_t one = std::uint64_t{1} << 32;
  if (f < one / 2) return (f << 32) / (one + f);
  return ((f >> 16) << 32) / ((one + f) >> 16);
}

// Exchanges one count with the 4 neighbours: sends `value` on every out channel,
// then receives one count from every in channel; returns the sum received.
struct Halo : stasis::Frame<Halo> {
  std::array<CountChannel*, kDirections> out{};
  std::array<CountChannel*, kDirections> in{};
  std::int64_t value = 0;
  std::int64_t received = 0;
  std::int64_t sum = 0;
  std::int32_t k = 0;
  STASIS_FIELDS(out, in, value, received, sum, k)

  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < kDirections; ++k) STASIS_SEND(cx, *out[k], value);
    for (k = 0; k < kDirections; ++k) {
      STASIS_RECEIVE(cx, *in[k], received);
      sum += received;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

// One region of the torus: population S + I + R (constant), its own RNG stream.
struct Region : stasis::Frame<Region> {
  // Wiring.
  std::int64_t index = 0;  // y * width + x
  std::array<CountChannel*, kDirections> out{};
  std::array<CountChannel*, kDirections> in{};
  ReportChannel* reports = nullptr;
  // Parameters (Q16 probabilities per step).
  std::int64_t steps = 0;
  std::int64_t beta_q16 = 0;      // infections per infected contact and step
  std::int64_t gamma_q16 = 0;     // recovery probability
  std::int64_t omega_q16 = 0;     // probability that immunity wanes
  std::int64_t coupling_q16 = 0;  // weight of one neighbour's infected vs a local one
  // State.
  std::int64_t step = 0;  // steps completed
  std::int64_t susceptible = 0;
  std::int64_t infected = 0;
  std::int64_t recovered = 0;
  std::uint64_t rng = 0;
  std::int64_t neighbour_infected = 0;  // sum of the neighbours' infected this step
  STASIS_FIELDS(index, out, in, reports, steps, beta_q16, gamma_q16, omega_q16, coupling_q16, step, susceptible,
                infected, recovered, rng, neighbour_infected)

  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    while (step < steps) {
      STASIS_CALL(cx, neighbour_infected, Halo{.out = out, .in = in, .value = infected});
      advance();
      STASIS_SEND(cx, *reports, report());
    }
    STASIS_END(cx);
  }

  // Infection probability (Q32) of one susceptible this step: the force
  // f = beta * (local infected + coupling * neighbours' infected) / population,
  // saturated as f / (1 + f). With population <= 10^6 the product stays below 2^55.
  std::uint64_t infection_q32() const {
    const std::int64_t population = susceptible + infected + recovered;
    const std::int64_t pressure_q16 = infected * kOne + neighbour_infected * coupling_q16;
    const std::int64_t force_q32 = beta_q16 * pressure_q16 / population;
    return saturate_q32(static_cast<std::uint64_t>(force_q32));
  }

  // One SIRS step from the counts of step `step` and the neighbours' infected.
  void advance() {
    const std::int64_t infections = binomial<32>(susceptible, infection_q32(), rng);
    const std::int64_t recoveries = binomial<16>(infected, static_cast<std::uint64_t>(gamma_q16), rng);
    const std::int64_t wanings = binomial<16>(recovered, static_cast<std::uint64_t>(omega_q16), rng);
    susceptible += wanings - infections;
    infected += infections - recoveries;
    recovered += recoveries - wanings;
    ++step;
  }

  Report report() const { return Report{step, index, susceptible, infected, recovered}; }
};

// Sums the regions' reports per step, folds each step's totals into the
// trajectory hash (and prints progress every `progress_every` steps, if > 0), and
// returns the result line after the last step. Besides the S/I/R totals, each
// step contributes a digest of every region's counts (a sum of per-region hashes:
// independent of arrival order), so two runs agree only if every region of every
// step agrees.
struct Aggregator : stasis::Frame<Aggregator> {
  ReportChannel* reports = nullptr;
  // Parameters.
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::int64_t steps = 0;
  std::uint64_t seed = 0;
  std::int64_t total_population = 0;  // S + I + R over the grid, every step
  std::int64_t progress_every = 0;    // 0: silent
  // State.
  std::int64_t next_step = 1;  // the first step not folded yet
  // Partial sums of steps next_step, next_step + 1, ...: kSlot numbers per step
  // (reports received, S, I, R, digest; sums mod 2^64). Regions drift apart by
  // at most their grid distance, so this stays short.
  std::vector<std::uint64_t> pending;
  Report received;
  std::uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  std::int64_t susceptible = 0;  // totals of the last folded step
  std::int64_t infected = 0;
  std::int64_t recovered = 0;
  std::uint64_t digest = 0;  // of the last folded step
  std::int64_t peak_infected = 0;
  std::int64_t peak_step = 0;
  STASIS_FIELDS(reports, width, height, steps, seed, total_population, progress_every, next_step, pending,
                received, hash, susceptible, infected, recovered, digest, peak_infected, peak_step)

  static constexpr std::size_t kSlot = 5;  // numbers per pending step

  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    while (next_step <= steps) {
      STASIS_RECEIVE(cx, *reports, received);
      absorb(received);
    }
    STASIS_RETURN(cx, result());
    STASIS_END(cx);
  }

  void absorb(const Report& r) {
    if (r.step < next_step || r.step > steps || r.region < 0 || r.region >= width * height) {
      throw std::logic_error("aggregator: report for step " + std::to_string(r.step) + " from region " +
                             std::to_string(r.region) + " while folding step " + std::to_string(next_step) + " of " +
                             std::to_string(steps));
    }
    const auto at = static_cast<std::size_t>(r.step - next_step) * kSlot;
    if (pending.size() < at + kSlot) pending.resize(at + kSlot, 0);
    pending[at] += 1;
    pending[at + 1] += static_cast<std::uint64_t>(r.susceptible);
    pending[at + 2] += static_cast<std::uint64_t>(r.infected);
    pending[at + 3] += static_cast<std::uint64_t>(r.recovered);
    pending[at + 4] += region_digest(r);
    while (!pending.empty() && pending[0] == static_cast<std::uint64_t>(width * height)) fold_front();
  }

  static std::uint64_t region_digest(const Report& r) {
    std::uint64_t h = mix64(static_cast<std::uint64_t>(r.region));
    for (std::int64_t v : {r.susceptible, r.infected, r.recovered}) h = mix64(h + static_cast<std::uint64_t>(v));
    return h;
  }

  void fold_front() {
    susceptible = static_cast<std::int64_t>(pending[1]);
    infected = static_cast<std::int64_t>(pending[2]);
    recovered = static_cast<std::int64_t>(pending[3]);
    digest = pending[4];
    pending.erase(pending.begin(), pending.begin() + kSlot);
    if (susceptible + infected + recovered != total_population) {
      throw std::logic_error("aggregator: step " + std::to_string(next_step) + " counts " +
                             std::to_string(susceptible + infected + recovered) + " people, expected " +
                             std::to_string(total_population));
    }
    for (std::int64_t v : {next_step, susceptible, infected, recovered}) mix(static_cast<std::uint64_t>(v));
    mix(digest);
    if (infected > peak_infected) {
      peak_infected = infected;
      peak_step = next_step;
    }
    if (progress_every > 0 && (next_step % progress_every == 0 || next_step == steps)) print_progress();
    ++next_step;
  }

  // FNV-1a over the 8 little-endian bytes of u (the same bytes on every host).
  void mix(std::uint64_t u) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (u >> (8 * i)) & 0xffu;
      hash *= 0x100000001b3ull;
    }
  }

  void print_progress() const;
  std::string result() const;
};

}  // namespace epidemic

#endif  // STASIS_SAMPLES_EPIDEMIC_MODEL_H_
