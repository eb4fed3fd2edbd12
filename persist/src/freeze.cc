// freeze.cc — turning live tasklets into a snapshot message (format 3: the
// tasklets go in the columnar TaskletTable).
//
// The Freezer only reads runtime state; every failure is a FreezeError thrown
// before anything is handed out, so the tasklets never notice a freeze. Archive
// order (the reader depends on it): for each tasklet in list order, its frames
// innermost first, then its slot value; then for each channel its buffer, oldest
// first. check_tasklets() counts the table's frames, extras and field sets; the
// writing pass fills exactly that many (and checks that it did).
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "flat_message_builder.h"
#include "table_writer.h"
#include "native/native_freeze.h"
#include "pointer_set.h"
#include "producer.h"
#include "stasis/persist/access.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/schema/snapshot.capnp.h"
#include "stasis/select.h"

namespace stasis::detail {

using persist::FramePersistOps;
using persist::kNullChannel;
using persist::ValueCodec;

using persist::FlatMessageBuilder;
using persist::PointerSet;

namespace {

template <class S>
constexpr std::size_t struct_words() {
  return S::_capnpPrivate::dataWordSize + S::_capnpPrivate::pointerCount;
}
constexpr std::size_t text_words(std::size_t bytes) { return (bytes + 8) / 8; }  // NUL included

// Allowance per frame field for the variable-size parts of a snapshot: its archive
// bytes and, for frames whose records describe their fields, its text description
// (strings, "other" renderings). A short estimate only costs a copy (more
// segments, flattened); a long one costs address space that is never touched.
constexpr std::size_t kArchiveBytesPerField = 16;
constexpr std::size_t kTextBytesPerField = 32;
constexpr std::size_t kValueBytes = 64;   // a slot or buffered value: archive + text
constexpr std::size_t kFixedWords = 4096;  // producer, scheduler, note, type lists

}  // namespace

class PersistAccess::Freezer final : public persist::FrameWriter {
 public:
  Freezer(Scheduler& s, const persist::FreezeOptions& options) : s_(s), options_(options), ar_(sink_) {
    if (s.running_) {
      throw FreezeError("freeze: the scheduler is running; freeze from outside Scheduler::run() "
                        "(e.g. between budgeted runs, as Checkpointer does)");
    }
  }

  // Every alive tasklet, runnable ones in run order first.
  void collect_scheduler() {
    scope_ = schema::Snapshot::Scope::SCHEDULER;
    order_.reserve(s_.alive_count_);
    waiter_records_.reserve(s_.channel_blocked_);
    for (int level = Scheduler::kLevels - 1; level >= 0; --level) {
      for (Tasklet* t = s_.levels_[level].head; t; t = t->link_next_) add(t);
    }
    for (Tasklet* t = s_.paused_.head; t; t = t->link_next_) add(t);
    for (Tasklet* t = s_.blocked_.head; t; t = t->link_next_) add(t);
    collect_channel_waiters();
    // Each alive tasklet is in exactly one of those lists (scheduler.h): none was
    // added twice unless that invariant broke, which the count would show.
    if (order_.size() != s_.alive_count_) {
      remove_duplicates();
      index_waiters();  // the recorded positions moved
    }
  }

  void collect_set(std::span<const TaskletRef> tasklets) {
    scope_ = schema::Snapshot::Scope::TASKLETS;
    for (const TaskletRef& ref : tasklets) {
      Tasklet* t = ref.get();
      if (!t) throw FreezeError("freeze: a null tasklet handle in the set");
      if (!t->alive()) throw FreezeError("freeze: " + t->label() + " has ended; only alive tasklets can be frozen");
      if (t->state_ == TaskletState::kRunning) {
        throw FreezeError("freeze: " + t->label() + " is running; freeze from outside Scheduler::run()");
      }
      add(t);
    }
  }

  persist::Snapshot finish() {
    check_tasklets();
    if (native_count_) capture_natives();
    std::size_t archive_estimate = 0;
    // The archive is written into the message buffer's tail and becomes the
    // message's second segment: no copy of it (flat_message_builder.h).
    const std::size_t message_estimate = estimate_message_words(archive_estimate);
    FlatMessageBuilder message(message_estimate, archive_estimate, persist::kHeaderBytes);
    auto root = message.initRoot<schema::Snapshot>();
    sink_.reset(message.tail(), message.tail_bytes());
    fill_producer(root.initProducer());
    root.setCreatedUnixNs(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    root.setScope(scope_);
    root.setNote(options_.note);
    auto sched = root.initScheduler();
    sched.setSteps(s_.steps_);
    sched.setRngState(s_.rng_);

    collect_timers();
    table_.init(root.initTaskletTable(), order_.size(), counts_);
    for (std::size_t i = 0; i < order_.size(); ++i) {
      prefetch(i);
      write_tasklet(order_[i], static_cast<unsigned>(i));
    }
    table_.check_filled(counts_);
    write_channels(root);
    write_types(root);
    if (native_count_) {
      std::vector<const persist::native::CapturedNative*> used;
      for (const auto& [t, c] : captured_) used.push_back(&c);
      const auto& symbols = natives_->symbols();
      persist::native::NativeFreezer::write_symbols(symbols, root.initSymbols(static_cast<unsigned>(symbols.size())));
      persist::native::NativeFreezer::write_modules(
          root.initModules(static_cast<unsigned>(persist::native::NativeFreezer::module_count())), used);
    }
    if (options_.channels_out) {
      options_.channels_out->clear();
      for (const ChannelEntry& e : channels_) options_.channels_out->push_back(e.channel);
    }
    stats_.archive_bytes = sink_.size();
    root.adoptArchive(message.external(sink_.data(), sink_.size()));
    if (!sink_.spilled()) message.set_tail_used(sink_.size());

    kj::ArrayPtr<const capnp::word> words = message.flat();
    stats_.message_bytes = words.size() * sizeof(capnp::word);
    if (message.in_place()) {
      // The usual case: the message fits the estimated first segment, which has
      // room for the container header in front: the file is built in place.
      std::string compressed = persist::encode_container_in_place(words, options_.container);
      if (compressed.empty()) {
        const char* file = reinterpret_cast<const char*>(words.begin()) - persist::kHeaderBytes;
        stats_.file_bytes = persist::kHeaderBytes + stats_.message_bytes;
        stats_.compressed = false;
        std::shared_ptr<const void> owner(message.release(), [](const void* p) { std::free(const_cast<void*>(p)); });
        return persist::Snapshot(std::move(owner), file, stats_.file_bytes, stats_);
      }
      return snapshot_of(std::move(compressed));
    }
    return snapshot_of(persist::encode_container(words, options_.container));
  }

  // Captures every native tasklet of order_ (NativeFreezeError if one cannot be
  // frozen) and gives the channels their stacks point at a snapshot index.
  void capture_natives() {
    std::vector<Tasklet*> others;
    if (scope_ == schema::Snapshot::Scope::TASKLETS) {
      auto other = [&](Tasklet* t) {
        if (!included_.contains(t)) others.push_back(t);
      };
      for (int level = Scheduler::kLevels - 1; level >= 0; --level) {
        for (Tasklet* t = s_.levels_[level].head; t; t = t->link_next_) other(t);
      }
      for (Tasklet* t = s_.paused_.head; t; t = t->link_next_) other(t);
      for (Tasklet* t = s_.blocked_.head; t; t = t->link_next_) other(t);
    }
    natives_ = std::make_unique<persist::native::NativeFreezer>(s_, order_, others);
    for (Tasklet* t : order_) {
      if (!t->native()) continue;
      persist::native::CapturedNative c = natives_->capture(*t);
      for (const persist::native::WordRelocation& r : c.relocations) {
        if (r.kind != persist::native::ObjectKind::kChannel) continue;
        const auto* ch = reinterpret_cast<const ChannelBase*>(r.key);
        const ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
        if (!codec) throw_no_channel_codec(ch);
        channel_ref(ch, *codec);
      }
      // Exact but for rounding: a short estimate costs a copy of the whole message.
      std::size_t words = text_words(c.image.stack.size()) + text_words(c.image.callable_bytes.size()) + 8;
      for (const auto& r : c.runs) words += struct_words<schema::ArenaRun>() + text_words(r.bytes.size());
      words += c.relocations.size() * struct_words<schema::Relocation>();
      words += c.frames.size() * struct_words<schema::NativeFrame>();
      estimate_.words += words + struct_words<schema::WordSummary>();
      captured_.emplace(t, std::move(c));
    }
    for (const auto& sym : natives_->symbols()) {
      estimate_.words += struct_words<schema::Symbol>() + text_words(sym.function.size()) +
                         text_words(sym.file.size()) + text_words(sym.module.size());
    }
  }

  persist::Snapshot snapshot_of(std::string bytes) {
    stats_.file_bytes = bytes.size();
    stats_.compressed = persist::peek_header(bytes).compressed;
    return persist::Snapshot(std::move(bytes), stats_);
  }

  // --- FrameWriter ---
  persist::OArchive& archive() noexcept override { return ar_; }

  std::uint32_t channel_ref(const ChannelBase* ch, const ValueCodec& codec) override {
    if (!ch) return kNullChannel;
    if (ch == last_channel_) return last_channel_index_;
    auto [it, inserted] = channel_index_.try_emplace(ch, static_cast<std::uint32_t>(channels_.size()));
    if (inserted) channels_.push_back({ch, &codec});
    last_channel_ = ch;
    last_channel_index_ = it->second;
    return it->second;
  }
  void describe_int(std::int64_t v) override { next_field().setInt(v); }
  void describe_uint(std::uint64_t v) override { next_field().setUint(v); }
  void describe_float(double v) override { next_field().setFloat(v); }
  void describe_bool(bool v) override { next_field().setBool(v); }
  void describe_text(std::string_view v) override { next_field().setText(capnp::Text::Reader(v.data(), v.size())); }
  void describe_channel(std::uint32_t index) override {
    if (index == kNullChannel) next_field().setNull(); else next_field().setChannel(index);
  }
  void describe_other(std::string_view text) override {
    next_field().setOther(capnp::Text::Reader(text.data(), text.size()));
  }
  std::string channel_label(std::uint32_t index) const override {
    if (index == kNullChannel) return "null";
    // Not "#" + to_string(...): GCC 12 -O3 warns -Wrestrict on that inlined
    // concatenation, a false positive (GCC PR 105329).
    std::string label = std::to_string(channels_[index].channel->id());
    label.insert(label.begin(), '#');
    return label;
  }

 private:
  struct ChannelEntry {
    const ChannelBase* channel;
    const ValueCodec* codec;
  };

  // The passes over order_ visit tasklets scattered over the heap (in channel
  // queue order, say): fetch the tasklets a few steps ahead, and their innermost
  // frames once the tasklet is there, so that the cache misses overlap.
  // always_inline is load-bearing: a function whose only effects are prefetches
  // looks side-effect free to GCC (ipa-pure-const), which then deletes the calls
  // of an out-of-line copy — GCC 12 did, and freeze ran 1.4x slower.
  [[gnu::always_inline]] void prefetch(std::size_t i) const {
    constexpr std::size_t kTaskletsAhead = 64, kFramesAhead = 32;
    if (i + kTaskletsAhead < order_.size()) {
      const char* t = reinterpret_cast<const char*>(order_[i + kTaskletsAhead]);
      __builtin_prefetch(t);
      __builtin_prefetch(t + 64);
    }
    if (i + kFramesAhead < order_.size()) {
      const char* f = reinterpret_cast<const char*>(order_[i + kFramesAhead]->top_);
      __builtin_prefetch(f);
      __builtin_prefetch(f + 64);
    }
  }

  void add(Tasklet* t) {
    if (scope_ == schema::Snapshot::Scope::SCHEDULER || included_.insert(t)) order_.push_back(t);
  }

  // Position of tasklet t in order_ (which must hold it). For tasklet sets and
  // the rare re-indexing below: a freeze of the whole scheduler records positions
  // as it collects the waiters.
  std::uint32_t index_of(const Tasklet* t) {
    if (positions_.empty()) {
      positions_.reserve(order_.size());
      for (std::size_t i = 0; i < order_.size(); ++i) positions_.emplace(order_[i], static_cast<std::uint32_t>(i));
    }
    return positions_.at(t);
  }

  void index_waiters() {
    positions_.clear();
    for (WaiterRecord& r : waiter_records_) r.index = index_of(r.tasklet);
  }

  void remove_duplicates() {
    included_.reserve(order_.size());
    std::size_t kept = 0;
    for (Tasklet* t : order_) {
      if (included_.insert(t)) order_[kept++] = t;
    }
    order_.resize(kept);
  }

  // Every waiter outside a select of every channel of the thread, channel by
  // channel in queue order, into order_; what write_channels needs of them is
  // recorded now, while their tasklets are in cache (a second walk of a million
  // waiters costs a cache miss each). A wait queue is a linked list through the
  // tasklets, each step a cache miss that waits for the one before: kLanes queues
  // are walked in lockstep so that their misses overlap.
  void collect_channel_waiters() {
    struct Seen {
      Tasklet* tasklet;
      std::uint64_t id;
      bool sending;
    };
    constexpr std::size_t kLanes = 16;
    std::vector<Seen> lanes[kLanes];
    std::vector<ChannelBase*> group;
    ChannelBase* next = ChannelBase::first_on_thread();
    while (next) {
      group.clear();
      for (; next && group.size() < kLanes; next = next->next_on_thread()) group.push_back(next);
      Waiter* cursor[kLanes];
      for (std::size_t k = 0; k < group.size(); ++k) {
        cursor[k] = group[k]->waiters_.front();
        lanes[k].clear();
      }
      for (bool more = true; more;) {
        more = false;
        for (std::size_t k = 0; k < group.size(); ++k) {
          Waiter* w = cursor[k];
          if (!w) continue;
          more = true;
          // A select case's waiter is not embedded in a tasklet: its tasklet is
          // found through the blocked list.
          if (!w->in_select()) {
            Tasklet* t = Tasklet::from_waiter(w);
            lanes[k].push_back({t, t->id_, w->sending()});
          }
          cursor[k] = w->next;
        }
      }
      for (std::size_t k = 0; k < group.size(); ++k) {
        const std::size_t begin = waiter_records_.size();
        for (const Seen& seen : lanes[k]) {
          add(seen.tasklet);  // scheduler scope: always appended, at index order_.size() - 1
          waiter_records_.push_back({seen.tasklet, static_cast<std::uint32_t>(order_.size() - 1), seen.sending});
        }
        recorded_waiters_.emplace(group[k], std::pair{begin, waiter_records_.size()});
      }
    }
  }

  // Refuses what v1 cannot freeze, before anything is written. On the way (one
  // pass over a million tasklets costs cache misses) it counts what sizes the
  // message: see estimate_message_words().
  void check_tasklets() {
    for (std::size_t i = 0; i < order_.size(); ++i) {
      prefetch(i);
      Tasklet* t = order_[i];
      if (t->native() && t->wait_ == WaitKind::kIo) {
        throw FreezeError("freeze: " + t->label() +
                          " is blocked in an I/O operation, whose state lives in the I/O reactor; freeze it when it "
                          "waits on a channel, sleeps or is runnable");
      }
      if (t->wait_ == WaitKind::kSelect) {
        throw FreezeError("freeze: " + t->label() + " is blocked in a select (" + describe_select(t->select_) +
                          "); select waits cannot be frozen yet — freeze when it is not selecting");
      }
      if (t->wait_ == WaitKind::kSwitch) {
        throw FreezeError("freeze: " + t->label() +
                          " is suspended in a switch; switch waits cannot be frozen yet");
      }
      if (t->state_ == TaskletState::kBlocked && t->wait_ == WaitKind::kSend && (t->waiter_.bits & Waiter::kException)) {
        throw FreezeError("freeze: " + t->label() + " is blocked in send_exception on " + t->waiter_.channel->label() +
                          "; an exception in flight cannot be frozen — freeze after a receiver has taken it");
      }
      if (t->exc_) {
        throw FreezeError("freeze: " + t->label() +
                          " has a pending exception thrown into it; let it run first, then freeze");
      }
      if (needs_extra(t)) {
        ++counts_.extras;
        estimate_.words += struct_words<schema::TaskletExtra>() + text_words(t->name().size());
      }
      if (t->native()) {
        ++native_count_;
        estimate_.words += struct_words<schema::NativeTasklet>() + 64;
        if (t->slot_.has_value() && !persist::ValueCodecs::instance().find(t->slot_.type())) {
          throw FreezeError("freeze: " + t->label() + " holds a value in flight of C++ type '" +
                            persist::demangle(t->slot_.type().name()) +
                            "' that has no codec; register it with STASIS_PERSISTENT_VALUE(Type, \"name\")");
        }
        if (t->slot_.has_value()) ++estimate_.values;
        continue;
      }
      for (const FrameBase* f = t->top_; f; f = f->stasis_caller_) {
        const FramePersistOps* p = persist::persist_ops_of(f->ops());
        if (!p) {
          throw FreezeError("freeze: frame type '" + std::string(f->type_name()) + "' (C++ " + f->ops().cxx_name() +
                            ") of " + t->label() +
                            " is not registered for persistence; register it with STASIS_PERSISTENT_FRAME");
        }
        const std::size_t n = p->fields.size();
        ++counts_.frames;
        if (!p->archive_describes) {
          ++counts_.frame_fields;
          estimate_.words += struct_words<schema::FrameFields>() + 1 /* field list tag */ + n * struct_words<schema::Field>();
          estimate_.described_fields += n;
        }
        estimate_.fields += n;
      }
      if (t->slot_.has_value() && !persist::ValueCodecs::instance().find(t->slot_.type())) {
        throw FreezeError("freeze: " + t->label() + " holds a value in flight of C++ type '" +
                          persist::demangle(t->slot_.type().name()) +
                          "' that has no codec; register it with STASIS_PERSISTENT_VALUE(Type, \"name\")");
      }
      estimate_.words += 1;  // its entry in a channel's waiterTasklets (4 bytes), if it waits there
      if (t->slot_.has_value()) ++estimate_.values;
    }
  }

  // Words the message will probably take (exact for its structure, an allowance
  // per field for texts and archive bytes); sets `archive_bytes` to the archive's
  // share of that allowance. The tasklets' part was counted by check_tasklets().
  std::size_t estimate_message_words(std::size_t& archive_bytes) const {
    std::size_t words = kFixedWords + text_words(options_.note.size()) + estimate_.words +
                        persist::TableWriter::words(order_.size(), counts_);
    const std::size_t fields = estimate_.fields;
    std::size_t values = estimate_.values;
    for (const ChannelBase* ch = ChannelBase::first_on_thread(); ch; ch = ch->next_on_thread()) {
      words += struct_words<schema::Channel>() + 2 /* waiter and buffer list tags */ + text_words(ch->name().size());
      values += ch->buffered();
    }
    words += 1 /* channel list tag */ + values * struct_words<schema::Value>();
    archive_bytes = fields * kArchiveBytesPerField + values * kValueBytes;  // the tail, not the segment
    words += (estimate_.described_fields * kTextBytesPerField + values * kValueBytes) / sizeof(capnp::word);
    return words;
  }

  void collect_timers() {
    auto now = Scheduler::Clock::now();
    for (const Scheduler::Timer& tm : s_.timers_) {
      Tasklet* t = tm.tasklet;
      if (t->state_ == TaskletState::kBlocked && t->wait_ == WaitKind::kSleep && t->waiter_.bits == static_cast<std::uint32_t>(tm.seq)) {
        sleep_left_[t] = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(tm.when - now).count());
      }
    }
  }

  static schema::Tasklet::State state_of(const Tasklet* t) {
    switch (t->state()) {
      case TaskletState::kNew: return schema::Tasklet::State::NEW;
      case TaskletState::kRunnable: return schema::Tasklet::State::RUNNABLE;
      case TaskletState::kBlocked: return schema::Tasklet::State::BLOCKED;
      default: return schema::Tasklet::State::PAUSED;
    }
  }

  // Whether tasklet t has an entry in the table's extras (a name, a slot, the
  // time left of a sleep, a native record): check_tasklets counts by it.
  static bool needs_extra(const Tasklet* t) {
    return t->native() || t->slot_.has_value() || !t->name().empty() ||
           (t->state_ == TaskletState::kBlocked && t->wait_ == WaitKind::kSleep);
  }

  void write_tasklet(Tasklet* t, unsigned i) {
    using Table = persist::TableWriter;
    ++stats_.tasklets;
    std::uint8_t flags = 0;
    if (t->flags_ & Tasklet::kAtomic) flags |= Table::kAtomic;
    if (t->flags_ & Tasklet::kBlockTrap) flags |= Table::kBlockTrap;
    if (t->flags_ & Tasklet::kStarted) flags |= Table::kStarted;
    if (t == options_.interrupted) flags |= Table::kInterrupted;
    using WaitKindColumn = schema::TaskletTable::WaitKind;
    WaitKindColumn wait = WaitKindColumn::NONE;
    std::uint32_t wait_channel_index = 0;
    switch (t->state_ == TaskletState::kBlocked ? t->wait_ : WaitKind::kNone) {
      case WaitKind::kSend: wait = WaitKindColumn::SEND; wait_channel_index = wait_channel(t); break;
      case WaitKind::kReceive: wait = WaitKindColumn::RECEIVE; wait_channel_index = wait_channel(t); break;
      case WaitKind::kSleep: wait = WaitKindColumn::SLEEP; break;
      default: break;
    }
    const unsigned depth = t->native() ? 0 : static_cast<unsigned>(t->frame_depth());
    table_.set_tasklet(i, t->id_, state_of(t), t->priority_, flags, wait, wait_channel_index, depth);
    // The extra is written before the frames: its native record names channels the
    // frames do not, and none of it touches the archive.
    std::optional<schema::TaskletExtra::Builder> extra;
    if (needs_extra(t)) {
      auto x = extra.emplace(table_.next_extra(i));
      std::string_view name = t->name();
      if (!name.empty()) x.setName(capnp::Text::Reader(name.data(), name.size()));
      if (wait == WaitKindColumn::SLEEP) x.setSleep(sleep_left_.count(t) ? sleep_left_[t] : 0);
      if (t->native()) {
        natives_->write(captured_.at(t), x.initNative(), [&](const ChannelBase* ch) { return channel_index_.at(ch); });
      }
    }
    if (!t->native()) {
      for (const FrameBase* f = t->top_; f; f = f->stasis_caller_) write_frame(f);
    }
    if (t->slot_.has_value()) {
      extra->setHasSlot(true);  // a slot implies an extra
      write_value(*persist::ValueCodecs::instance().find(t->slot_.type()), extra->initSlot(),
                  [&](const ValueCodec& c) { c.save(ar_, t->slot_); }, [&](const ValueCodec& c) { return c.text(t->slot_); });
    }
  }

  std::uint32_t wait_channel(Tasklet* t) {
    const ChannelBase* ch = t->waiter_.channel;
    // Channels met before need no codec lookup (the registry takes a lock).
    if (ch == last_channel_) return last_channel_index_;
    if (auto it = channel_index_.find(ch); it != channel_index_.end()) return it->second;
    const ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
    if (!codec) throw_no_channel_codec(ch);
    return channel_ref(ch, *codec);
  }

  [[noreturn]] static void throw_no_channel_codec(const ChannelBase* ch) {
    throw FreezeError("freeze: " + ch->label() + " carries C++ type '" + persist::demangle(ch->value_type().name()) +
                      "' that has no codec; register it with STASIS_PERSISTENT_VALUE(Type, \"name\")");
  }

  void write_frame(const FrameBase* f) {
    ++stats_.frames;
    const FramePersistOps* p = persist::persist_ops_of(f->ops());
    // Frames whose fields the archive describes by itself (see FramePersistOps)
    // carry no field values: no describe_* call comes for them.
    const unsigned k = table_.next_frame(frame_type_index(p), f->stasis_rp_, (f->stasis_flags_ & FrameBase::kCatchesChild) != 0);
    fields_ = p->archive_describes ? capnp::List<schema::Field>::Builder()
                                   : table_.next_frame_fields(k, static_cast<unsigned>(p->fields.size()));
    next_field_ = 0;
    std::size_t before = sink_.size();
    p->save(f, *this);
    table_.set_archive_bytes(k, static_cast<std::uint32_t>(sink_.size() - before));
  }

  schema::Field::Builder next_field() {
    if (next_field_ >= fields_.size()) {
      throw FreezeError("freeze: a frame described more fields than its STASIS_FIELDS list declares");
    }
    return fields_[next_field_++];
  }

  template <class Save, class Text>
  void write_value(const ValueCodec& codec, schema::Value::Builder b, Save&& save, Text&& text) {
    b.setType(value_type_index(&codec));
    std::size_t before = sink_.size();
    save(codec);
    b.setArchiveBytes(static_cast<std::uint32_t>(sink_.size() - before));
    std::string rendered = text(codec);
    b.setText(rendered);
  }

  std::uint32_t frame_type_index(const FramePersistOps* p) {
    if (p == last_type_) return last_type_index_;
    auto [it, inserted] = frame_types_.try_emplace(p, static_cast<std::uint32_t>(frame_type_order_.size()));
    if (inserted) frame_type_order_.push_back(p);
    last_type_ = p;
    last_type_index_ = it->second;
    return it->second;
  }

  std::uint32_t value_type_index(const ValueCodec* c) {
    auto [it, inserted] = value_types_.try_emplace(c, static_cast<std::uint32_t>(value_type_order_.size()));
    if (inserted) value_type_order_.push_back(c);
    return it->second;
  }

  void write_channels(schema::Snapshot::Builder root) {
    // Channels are discovered while writing frames and waits; the list is final now
    // (buffered values reference no further channels).
    auto list = root.initChannels(static_cast<unsigned>(channels_.size()));
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      const ChannelBase* ch = channels_[i].channel;
      const ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
      if (!codec) throw_no_channel_codec(ch);
      auto b = list[static_cast<unsigned>(i)];
      ++stats_.channels;
      b.setId(ch->id());
      if (!ch->name().empty()) b.setName(ch->name());
      b.setValueType(value_type_index(codec));
      b.setCapacity(ch->capacity());
      b.setPreference(static_cast<std::int8_t>(ch->preference()));
      b.setScheduleAll(ch->schedule_all());
      b.setClosing(ch->closing());
      std::size_t begin = 0, end = 0;
      if (auto it = recorded_waiters_.find(ch); it != recorded_waiters_.end()) {
        std::tie(begin, end) = it->second;
      } else {  // a tasklet set: only its own tasklets among the waiters
        begin = end = waiter_records_.size();
        for (const Waiter* w = ch->waiters_.front(); w; w = w->next) {
          if (w->in_select()) continue;
          Tasklet* t = Tasklet::from_waiter(const_cast<Waiter*>(w));
          if (!included_.contains(t)) continue;
          waiter_records_.push_back({t, index_of(t), w->sending()});
        }
        end = waiter_records_.size();
      }
      long balance = 0;
      for (std::size_t k = begin; k < end; ++k) balance += waiter_records_[k].sending ? 1 : -1;
      b.setBalance(balance);
      auto wl = b.initWaiterTasklets(static_cast<unsigned>(end - begin));
      for (std::size_t k = begin; k < end; ++k) wl.set(static_cast<unsigned>(k - begin), waiter_records_[k].index);
      std::size_t n = ch->buffered();
      auto buf = b.initBuffer(static_cast<unsigned>(n));
      for (std::size_t k = 0; k < n; ++k) {
        ++stats_.buffered_values;
        write_value(*codec, buf[static_cast<unsigned>(k)], [&](const ValueCodec& c) { c.save_buffered(ar_, *ch, k); },
                    [&](const ValueCodec& c) { return c.text_buffered(*ch, k); });
      }
    }
  }

  void write_types(schema::Snapshot::Builder root) {
    auto ft = root.initFrameTypes(static_cast<unsigned>(frame_type_order_.size()));
    for (std::size_t i = 0; i < frame_type_order_.size(); ++i) {
      const FramePersistOps* p = frame_type_order_[i];
      auto b = ft[static_cast<unsigned>(i)];
      b.setName(p->ops->name);
      b.setVersion(p->ops->version);
      b.setCxxName(persist::demangle(p->ops->cxx_name()));
      auto fl = b.initFields(static_cast<unsigned>(p->fields.size()));
      for (std::size_t k = 0; k < p->fields.size(); ++k) {
        fl[static_cast<unsigned>(k)].setName(p->fields[k].name);
        fl[static_cast<unsigned>(k)].setType(p->fields[k].type);
      }
    }
    auto vt = root.initValueTypes(static_cast<unsigned>(value_type_order_.size()));
    for (std::size_t i = 0; i < value_type_order_.size(); ++i) vt[static_cast<unsigned>(i)].setName(value_type_order_[i]->name);
  }

  Scheduler& s_;
  const persist::FreezeOptions& options_;
  persist::RegionSink sink_;  // the field archive: see finish()
  persist::OArchive ar_;
  schema::Snapshot::Scope scope_ = schema::Snapshot::Scope::SCHEDULER;
  std::vector<Tasklet*> order_;
  PointerSet included_;  // the tasklets of order_
  // The waiters of each channel outside a select (id, direction), recorded by
  // collect_scheduler for every channel of the thread: [begin, end) of
  // waiter_records_. Channels not in the map (tasklet sets) are walked by
  // write_channels, which appends their included waiters.
  struct WaiterRecord {
    Tasklet* tasklet;
    std::uint32_t index;  // its position in order_ (the tasklet table)
    bool sending;
  };
  std::vector<WaiterRecord> waiter_records_;
  std::unordered_map<const Tasklet*, std::uint32_t> positions_;  // index_of()'s map, built on first use
  std::unordered_map<const ChannelBase*, std::pair<std::size_t, std::size_t>> recorded_waiters_;
  std::unordered_map<const Tasklet*, std::int64_t> sleep_left_;
  std::vector<ChannelEntry> channels_;
  std::unordered_map<const ChannelBase*, std::uint32_t> channel_index_;
  const ChannelBase* last_channel_ = nullptr;  // the last channel_ref, cached: a tasklet's
  std::uint32_t last_channel_index_ = 0;      // wait and its frames often name one channel
  std::unordered_map<const FramePersistOps*, std::uint32_t> frame_types_;
  std::vector<const FramePersistOps*> frame_type_order_;
  const FramePersistOps* last_type_ = nullptr;
  std::uint32_t last_type_index_ = 0;
  std::unordered_map<const ValueCodec*, std::uint32_t> value_types_;
  std::vector<const ValueCodec*> value_type_order_;
  capnp::List<schema::Field>::Builder fields_;
  unsigned next_field_ = 0;
  persist::FreezeStats stats_;
  persist::TableCounts counts_;  // by check_tasklets
  persist::TableWriter table_;
  std::size_t native_count_ = 0;
  std::unique_ptr<persist::native::NativeFreezer> natives_;
  std::unordered_map<const Tasklet*, persist::native::CapturedNative> captured_;
  struct {
    std::size_t words = 0;   // extras, native and field records (the columns: TableWriter::words)
    std::size_t fields = 0;  // frame fields
    std::size_t described_fields = 0;  // of frames whose records describe their fields
    std::size_t values = 0;  // slot values
  } estimate_;

  void fill_producer(schema::Producer::Builder p) { persist::fill_producer(p); }
};

}  // namespace stasis::detail

namespace stasis::persist {

Snapshot freeze(Scheduler& scheduler, const FreezeOptions& options) {
  ::stasis::detail::PersistAccess::Freezer f(scheduler, options);
  f.collect_scheduler();
  return f.finish();
}

Snapshot freeze(std::span<const TaskletRef> tasklets, const FreezeOptions& options) {
  ::stasis::detail::PersistAccess::Freezer f(Scheduler::current(), options);
  f.collect_set(tasklets);
  return f.finish();
}

}  // namespace stasis::persist
