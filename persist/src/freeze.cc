// freeze.cc — turning live tasklets into a snapshot message.
//
// The Freezer only reads runtime state; every failure is a FreezeError thrown
// before anything is handed out, so the tasklets never notice a freeze. Archive
// order (the reader depends on it): for each tasklet in list order, its frames
// innermost first, then its slot value; then for each channel its buffer, oldest
// first.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

#include "flat_message_builder.h"
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

// Allowance per frame field for the variable-size parts of a snapshot: its text
// description (strings, "other" renderings) and its archive bytes. A short
// estimate only costs a copy (more segments, flattened); a long one costs address
// space that is never touched.
constexpr std::size_t kArchiveBytesPerField = 16;
constexpr std::size_t kTextBytesPerField = 32;
constexpr std::size_t kValueBytes = 64;   // a slot or buffered value: archive + text
constexpr std::size_t kFixedWords = 4096;  // producer, scheduler, note, type lists

}  // namespace

class PersistAccess::Freezer final : public persist::FrameWriter {
 public:
  Freezer(Scheduler& s, const persist::FreezeOptions& options) : s_(s), options_(options), sink_(archive_), ar_(sink_) {
    if (s.running_) {
      throw FreezeError("freeze: the scheduler is running; freeze from outside Scheduler::run() "
                        "(e.g. between budgeted runs, as Checkpointer does)");
    }
  }

  // Every alive tasklet, runnable ones in run order first.
  void collect_scheduler() {
    scope_ = schema::Snapshot::Scope::SCHEDULER;
    included_.reserve(s_.alive_count_);
    order_.reserve(s_.alive_count_);
    for (int level = Scheduler::kLevels - 1; level >= 0; --level) {
      for (Tasklet* t = s_.levels_[level].head; t; t = t->link_next_) add(t);
    }
    for (Tasklet* t = s_.paused_.head; t; t = t->link_next_) add(t);
    for (Tasklet* t = s_.blocked_.head; t; t = t->link_next_) add(t);
    for (ChannelBase* ch = ChannelBase::first_on_thread(); ch; ch = ch->next_on_thread()) {
      for (Waiter* w = ch->waiters_.front(); w; w = w->next) {
        if (!w->in_select()) add(Tasklet::from_waiter(w));
      }
      all_waiters_included_.insert(ch);
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
    std::size_t archive_estimate = 0;
    FlatMessageBuilder message(estimate_message_words(archive_estimate));
    archive_.reserve(archive_estimate);
    auto root = message.initRoot<schema::Snapshot>();
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
    auto tasklets = root.initTasklets(static_cast<unsigned>(order_.size()));
    for (std::size_t i = 0; i < order_.size(); ++i) write_tasklet(order_[i], tasklets[static_cast<unsigned>(i)]);
    write_channels(root);
    write_types(root);
    stats_.archive_bytes = archive_.size();
    root.setArchive(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(archive_.data()), archive_.size()));

    kj::ArrayPtr<const capnp::word> words = message.flat();
    stats_.message_bytes = words.size() * sizeof(capnp::word);
    std::string bytes = persist::encode_container(words, options_.container);
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
    return "#" + std::to_string(channels_[index].channel->id());
  }

 private:
  struct ChannelEntry {
    const ChannelBase* channel;
    const ValueCodec* codec;
  };

  void add(Tasklet* t) {
    if (included_.insert(t)) order_.push_back(t);
  }

  // Refuses what v1 cannot freeze, before anything is written. On the way (one
  // pass over a million tasklets costs cache misses) it counts what sizes the
  // message: see estimate_message_words().
  void check_tasklets() {
    for (Tasklet* t : order_) {
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
      for (const FrameBase* f = t->top_; f; f = f->stasis_caller_) {
        const FramePersistOps* p = persist::persist_ops_of(f->ops());
        if (!p) {
          throw FreezeError("freeze: frame type '" + std::string(f->type_name()) + "' (C++ " + f->ops().cxx_name() +
                            ") of " + t->label() +
                            " is not registered for persistence; register it with STASIS_PERSISTENT_FRAME");
        }
        const std::size_t n = p->fields.size();
        estimate_.words += struct_words<schema::Frame>();
        if (!p->archive_describes) {
          estimate_.words += 1 /* field list tag */ + n * struct_words<schema::Field>();
          estimate_.described_fields += n;
        }
        estimate_.fields += n;
      }
      if (t->slot_.has_value() && !persist::ValueCodecs::instance().find(t->slot_.type())) {
        throw FreezeError("freeze: " + t->label() + " holds a value in flight of C++ type '" +
                          persist::demangle(t->slot_.type().name()) +
                          "' that has no codec; register it with STASIS_PERSISTENT_VALUE(Type, \"name\")");
      }
      estimate_.words += struct_words<schema::Tasklet>() + 1 /* frame list tag */ + struct_words<schema::Waiter>();
      if (!t->name().empty()) estimate_.words += text_words(t->name().size());
      if (t->slot_.has_value()) ++estimate_.values;
    }
  }

  // Words the message will probably take (exact for its structure, an allowance
  // per field for texts and archive bytes); sets `archive_bytes` to the archive's
  // share of that allowance. The tasklets' part was counted by check_tasklets().
  std::size_t estimate_message_words(std::size_t& archive_bytes) const {
    std::size_t words = kFixedWords + text_words(options_.note.size()) + 1 /* tasklet list tag */ + estimate_.words;
    const std::size_t fields = estimate_.fields;
    std::size_t values = estimate_.values;
    for (const ChannelBase* ch = ChannelBase::first_on_thread(); ch; ch = ch->next_on_thread()) {
      words += struct_words<schema::Channel>() + 2 /* waiter and buffer list tags */ + text_words(ch->name().size());
      values += ch->buffered();
    }
    words += 1 /* channel list tag */ + values * struct_words<schema::Value>();
    archive_bytes = fields * kArchiveBytesPerField + values * kValueBytes;
    words += (archive_bytes + estimate_.described_fields * kTextBytesPerField + values * kValueBytes) / sizeof(capnp::word);
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

  void write_tasklet(Tasklet* t, schema::Tasklet::Builder b) {
    ++stats_.tasklets;
    b.setId(t->id_);
    std::string_view name = t->name();
    if (!name.empty()) b.setName(capnp::Text::Reader(name.data(), name.size()));
    b.setPriority(t->priority_);
    b.setState(state_of(t));
    b.setAtomic(t->flags_ & Tasklet::kAtomic);
    b.setBlockTrap(t->flags_ & Tasklet::kBlockTrap);
    b.setStarted(t->flags_ & Tasklet::kStarted);
    b.setInterrupted(t == options_.interrupted);
    auto wait = b.initWait();
    switch (t->state_ == TaskletState::kBlocked ? t->wait_ : WaitKind::kNone) {
      case WaitKind::kSend: wait.setSend(wait_channel(t)); break;
      case WaitKind::kReceive: wait.setReceive(wait_channel(t)); break;
      case WaitKind::kSleep: wait.setSleep(sleep_left_.count(t) ? sleep_left_[t] : 0); break;
      default: wait.setNone(); break;
    }
    std::size_t depth = t->frame_depth();
    auto frames = b.initFrames(static_cast<unsigned>(depth));
    unsigned i = 0;
    for (const FrameBase* f = t->top_; f; f = f->stasis_caller_, ++i) write_frame(f, frames[i]);
    if (t->slot_.has_value()) {
      b.setHasSlot(true);
      write_value(*persist::ValueCodecs::instance().find(t->slot_.type()), b.initSlot(),
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

  void write_frame(const FrameBase* f, schema::Frame::Builder b) {
    ++stats_.frames;
    const FramePersistOps* p = persist::persist_ops_of(f->ops());
    b.setType(frame_type_index(p));
    b.setResumePoint(f->stasis_rp_);
    b.setCatchesChild(f->stasis_flags_ & FrameBase::kCatchesChild);
    // Frames whose fields the archive describes by itself (see FramePersistOps)
    // carry no field values: no describe_* call comes for them.
    fields_ = p->archive_describes ? capnp::List<schema::Field>::Builder()
                                   : b.initFields(static_cast<unsigned>(p->fields.size()));
    next_field_ = 0;
    std::size_t before = archive_.size();
    p->save(f, *this);
    b.setArchiveBytes(static_cast<std::uint32_t>(archive_.size() - before));
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
    std::size_t before = archive_.size();
    save(codec);
    b.setArchiveBytes(static_cast<std::uint32_t>(archive_.size() - before));
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
      std::vector<const Waiter*> waiters;
      const bool all_included = all_waiters_included_.contains(ch);
      long balance = 0;
      for (const Waiter* w = ch->waiters_.front(); w; w = w->next) {
        if (w->in_select()) continue;
        if (!all_included && !included_.contains(Tasklet::from_waiter(const_cast<Waiter*>(w)))) continue;
        waiters.push_back(w);
        balance += w->sending() ? 1 : -1;
      }
      b.setBalance(balance);
      auto wl = b.initWaiters(static_cast<unsigned>(waiters.size()));
      for (std::size_t k = 0; k < waiters.size(); ++k) {
        wl[static_cast<unsigned>(k)].setTasklet(Tasklet::from_waiter(const_cast<Waiter*>(waiters[k]))->id_);
        wl[static_cast<unsigned>(k)].setSending(waiters[k]->sending());
      }
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
  std::string archive_;
  persist::StringSink sink_;
  persist::OArchive ar_;
  schema::Snapshot::Scope scope_ = schema::Snapshot::Scope::SCHEDULER;
  std::vector<Tasklet*> order_;
  PointerSet included_;  // the tasklets of order_
  // Channels whose every waiter outside a select is in order_ (all the thread's
  // channels, for a whole scheduler): their waiters need no lookup in included_.
  PointerSet all_waiters_included_;
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
  struct {
    std::size_t words = 0;   // tasklet, frame and field records
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
