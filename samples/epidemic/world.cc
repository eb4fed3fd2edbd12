// world.cc — a fresh epidemic run: channels, initial frames, slices, result.
#include "world.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace epidemic {

namespace {

constexpr std::int64_t kMaxSide = 100000;
constexpr std::int64_t kMaxRegions = 4000000;
constexpr std::int64_t kMaxPopulation = 1000000;  // keeps Region::infection_q16 within 64 bits

constexpr char kDirectionLetter[kDirections] = {'N', 'E', 'S', 'W'};

// The seed of one region's RNG stream: the run's seed and the region's index,
// mixed so that neighbouring indices get unrelated streams.
std::uint64_t region_stream(std::uint64_t seed, std::int64_t index) {
  std::uint64_t s = seed ^ (static_cast<std::uint64_t>(index) * 0xD1B54A32D192ED03ull);
  return splitmix64(s);
}

std::string in_range(const char* what, std::int64_t v, std::int64_t lo, std::int64_t hi) {
  if (v >= lo && v <= hi) return {};
  return std::string(what) + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + " (got " +
         std::to_string(v) + ")";
}

}  // namespace

std::string Config::validate() const {
  for (const std::string& e : {
           in_range("width", width, 1, kMaxSide),
           in_range("height", height, 1, kMaxSide),
           in_range("steps", steps, 1, INT64_C(1000000000)),
           in_range("population", population, 1, kMaxPopulation),
           in_range("progress interval", progress_every, 0, INT64_C(1000000000)),
           in_range("beta", beta_q16, 0, kOne),
           in_range("gamma", gamma_q16, 0, kOne),
           in_range("omega", omega_q16, 0, kOne),
           in_range("coupling", coupling_q16, 0, kOne),
       }) {
    if (!e.empty()) return e;
  }
  if (width * height > kMaxRegions) {
    return "the grid has " + std::to_string(width * height) + " regions; at most " + std::to_string(kMaxRegions);
  }
  if (std::string e = in_range("outbreaks", outbreaks, 0, INT64_C(10000000)); !e.empty()) return e;
  return in_range("initially infected", initially_infected, 0, kMaxPopulation);
}

World::World(const Config& config) : config_(config) {
  if (std::string e = config.validate(); !e.empty()) throw std::invalid_argument("epidemic: " + e);
  const std::int64_t n = config_.regions();
  edges_.reserve(static_cast<std::size_t>(n * kDirections));
  for (std::int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < kDirections; ++d) {
      // "x,y>N": the edge from region (x, y) to its northern neighbour.
      std::string name = std::to_string(i % config_.width) + ',' + std::to_string(i / config_.width) + '>' +
                         kDirectionLetter[d];
      edges_.push_back(std::make_unique<CountChannel>(stasis::ChannelOptions{.name = std::move(name), .capacity = 1}));
    }
  }
  const std::size_t capacity = config_.report_capacity ? config_.report_capacity : static_cast<std::size_t>(n);
  reports_ = std::make_unique<ReportChannel>(stasis::ChannelOptions{.name = "reports", .capacity = capacity});

  // Outbreak sites, drawn from the seed with replacement; a site drawn twice gets
  // both outbreaks (capped at its population).
  outbreak_infected_.assign(static_cast<std::size_t>(n), 0);
  std::uint64_t s = config_.seed ^ 0x6F7574627265616Bull;  // "outbreak"
  for (std::int64_t k = 0; k < config_.outbreaks; ++k) {
    auto site = static_cast<std::size_t>(splitmix64(s) % static_cast<std::uint64_t>(n));
    outbreak_infected_[site] = std::min(config_.population, outbreak_infected_[site] + config_.initially_infected);
  }
}

std::int64_t World::neighbour(std::int64_t index, int d) const {
  const std::int64_t w = config_.width, h = config_.height;
  const std::int64_t x = index % w, y = index / w;
  switch (d) {
    case kNorth: return ((y + h - 1) % h) * w + x;
    case kEast: return y * w + (x + 1) % w;
    case kSouth: return ((y + 1) % h) * w + x;
    default: return y * w + (x + w - 1) % w;
  }
}

Region World::initial_region(std::int64_t index) const {
  Region r{.index = index,
           .reports = reports_.get(),
           .steps = config_.steps,
           .beta_q16 = config_.beta_q16,
           .gamma_q16 = config_.gamma_q16,
           .omega_q16 = config_.omega_q16,
           .coupling_q16 = config_.coupling_q16,
           .rng = region_stream(config_.seed, index)};
  for (int d = 0; d < kDirections; ++d) {
    r.out[d] = &edge(index, d);
    r.in[d] = &edge(neighbour(index, d), opposite(d));
  }
  r.infected = outbreak_infected_[static_cast<std::size_t>(index)];
  r.susceptible = config_.population - r.infected;
  return r;
}

Aggregator World::initial_aggregator() const {
  return Aggregator{.reports = reports_.get(),
                    .width = config_.width,
                    .height = config_.height,
                    .steps = config_.steps,
                    .seed = config_.seed,
                    .total_population = config_.regions() * config_.population,
                    .progress_every = config_.progress_every};
}

stasis::TaskletRef World::spawn(stasis::Scheduler& sched, std::uint64_t shuffle,
                                 std::vector<stasis::TaskletRef>* regions) const {
  stasis::TaskletRef aggregator = sched.spawn(initial_aggregator(), {.name = "aggregator"});
  std::vector<std::int64_t> order(static_cast<std::size_t>(config_.regions()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  if (shuffle != 0) {  // Fisher-Yates
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[splitmix64(shuffle) % i]);
  }
  if (regions) regions->assign(order.size(), stasis::TaskletRef());
  for (std::int64_t index : order) {
    stasis::TaskletRef r = sched.spawn(initial_region(index));
    if (regions) (*regions)[static_cast<std::size_t>(index)] = std::move(r);
  }
  return aggregator;
}

bool run_in_slices(stasis::Scheduler& sched, std::uint64_t budget, const BetweenSlices& between) {
  for (;;) {
    stasis::TaskletRef interrupted = sched.run(budget);
    if (!interrupted) return true;
    interrupted->insert();
    if (between && !between(sched)) return false;
  }
}

const Aggregator* aggregator_frame(const stasis::TaskletRef& aggregator) {
  const stasis::FrameBase* f = aggregator ? aggregator->top_frame() : nullptr;
  if (!f || &f->ops() != &stasis::detail::FrameOpsFor<Aggregator>::ops) return nullptr;
  return static_cast<const Aggregator*>(f);
}

std::int64_t completed_steps(const stasis::TaskletRef& aggregator) {
  const Aggregator* a = aggregator_frame(aggregator);
  return a ? a->next_step - 1 : -1;
}

std::string result_of(const stasis::TaskletRef& aggregator) { return aggregator->result<std::string>(); }

}  // namespace epidemic
