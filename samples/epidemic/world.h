// world.h — building, running and reading out the epidemic simulation.
//
// A World owns the channels of one fresh run: one capacity-1 channel per directed
// edge of the torus (4 per region) and the aggregator's report channel. Frames
// hold raw pointers to them, so the World must outlive every tasklet it spawned
// (destroy the Scheduler first, or let it be declared after the World).
//
// Everything that changes during a run lives in the frames (model.h); the World
// holds no simulation state, only the channels and the configuration a fresh
// start is built from.
#ifndef STASIS_SAMPLES_EPIDEMIC_WORLD_H_
#define STASIS_SAMPLES_EPIDEMIC_WORLD_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model.h"
#include "stasis/stasis.h"

namespace epidemic {

struct Config {
  std::int64_t width = 100;
  std::int64_t height = 100;
  std::int64_t steps = 300;
  std::uint64_t seed = 1;
  std::int64_t population = 1000;     // people per region
  std::int64_t outbreaks = 3;         // outbreak sites, drawn with replacement
  std::int64_t initially_infected = 5;  // infected per outbreak (capped at the population)
  std::int64_t beta_q16 = 19661;      // 0.30
  std::int64_t gamma_q16 = 6554;      // 0.10: ~10 steps infectious
  std::int64_t omega_q16 = 655;       // 0.01: ~100 steps immune
  std::int64_t coupling_q16 = 16384;  // 0.25: one neighbour's infected weigh 1/4 of a local one
  std::int64_t progress_every = 25;   // 0: no progress lines
  std::size_t report_capacity = 0;    // report channel buffer; 0: width * height

  std::int64_t regions() const { return width * height; }
  // Empty if the configuration is usable, else what is wrong with it.
  std::string validate() const;
};

class World {
 public:
  // Creates the channels for `config` (which must validate()). Throws
  // std::invalid_argument otherwise.
  explicit World(const Config& config);
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const Config& config() const noexcept { return config_; }
  // The channel region `index` sends on towards its neighbour in direction d.
  CountChannel& edge(std::int64_t index, int d) const { return *edges_[static_cast<std::size_t>(index * kDirections + d)]; }
  // The region in direction d of region `index` (the grid wraps around).
  std::int64_t neighbour(std::int64_t index, int d) const;
  ReportChannel& reports() const { return *reports_; }

  // The initial frames of a fresh run.
  Region initial_region(std::int64_t index) const;
  Aggregator initial_aggregator() const;

  // Spawns the aggregator (named "aggregator") and then the regions (unnamed) on
  // `sched` and returns the aggregator; its result is the run's result line.
  // Regions are spawned in index order, or with shuffle != 0 in an order shuffled
  // by it: a different schedule with the same result. With `regions`, it also
  // receives the region tasklets, in index order.
  stasis::TaskletRef spawn(stasis::Scheduler& sched, std::uint64_t shuffle = 0,
                           std::vector<stasis::TaskletRef>* regions = nullptr) const;

 private:
  Config config_;
  std::vector<std::unique_ptr<CountChannel>> edges_;  // [index * 4 + d]
  std::unique_ptr<ReportChannel> reports_;
  std::vector<std::int64_t> outbreak_infected_;  // initial infected per region
};

// Called between two slices of run_in_slices, with every tasklet runnable or
// blocked (none paused). Return false to stop the run there.
using BetweenSlices = std::function<bool(stasis::Scheduler&)>;

// Runs `sched` until it is idle, in slices of at most `budget` frame steps
// (Scheduler::run(budget)); the tasklet a slice interrupts is put back in the run
// queue before `between` is called. Returns true when the scheduler went idle,
// false when `between` stopped it (tasklets stay where they are: call again to
// continue). Throws what Scheduler::run throws (Deadlock, UnhandledTaskletError).
bool run_in_slices(stasis::Scheduler& sched, std::uint64_t budget, const BetweenSlices& between);

// The aggregator frame of a tasklet spawned by World::spawn (or restored from a
// snapshot of one), or null once it has finished.
const Aggregator* aggregator_frame(const stasis::TaskletRef& aggregator);

// How many simulation steps the aggregator has folded so far; -1 once it has
// ended (its frames are gone: read result_of then).
std::int64_t completed_steps(const stasis::TaskletRef& aggregator);

// The result line of a finished aggregator ("size=... hash=..."); rethrows its
// exception if it failed; TaskletStateError if it has not finished.
std::string result_of(const stasis::TaskletRef& aggregator);

}  // namespace epidemic

#endif  // STASIS_SAMPLES_EPIDEMIC_WORLD_H_
