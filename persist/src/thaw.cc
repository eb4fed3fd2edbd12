// thaw.cc — recreating tasklets, frames and channels from a snapshot message.
//
// All-or-nothing: everything is decoded, type-checked and built off to the side
// first (frames, channels, values); only when nothing can fail any more are the
// tasklets created and put in the scheduler's queues, wait queues and timers.
// The archive is read in the order freeze.cc wrote it. Channel wait queues are
// rebuilt in each channel's recorded order: when every channel lists its waiters
// in tasklet-list order (what freeze(scheduler) writes), each tasklet is parked as
// it is created; otherwise in a second pass, channel by channel.
#include <capnp/message.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/archive/archive_exception.hpp>

#include "producer.h"
#include "tasklet_ids.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/tasklet_table.h"
#include "native/native_thaw.h"
#include "stasis/native_image.h"
#include "stasis/persist/validate.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::detail {

using persist::FramePersistOps;
using persist::kNullChannel;
using persist::ValueCodec;


class PersistAccess::Thawer final : public persist::FrameReader {
 public:
  Thawer(Scheduler& s, const persist::ThawOptions& options) : s_(s), options_(options), native_(options.source_name) {
    if (s.running_) {
      throw SchedulerError("thaw: the scheduler is running; thaw from outside Scheduler::run()");
    }
  }
  ~Thawer() {
    for (FrameBase* f : frames_) {
      if (f) destroy_frame(f);
    }
  }

  persist::Thawed run(const persist::Snapshot& snapshot) {
    const std::string& src = options_.source_name;
    persist::MessageView view = persist::MessageView::borrowing(snapshot.bytes(), options_.limits, src);
    return persist::with_capnp_errors(src, [&] { return load(view.root()); });
  }

 private:
  persist::Thawed load(schema::Snapshot::Reader root) {
    const std::string& src = options_.source_name;
    persist::validate_snapshot(root, src, validated_);  // and keeps what it read
    persist::check_producer(root.getProducer(), src);
    root_ = root;
    native_count_ = 0;
    for (const persist::ValidatedTasklet& t : validated_.tasklets) native_count_ += (t.bits & persist::ValidatedTasklet::kNative) != 0;
    if (native_count_ && !options_.allow_native) {
      throw SnapshotIncompatible(src + ": it holds " + std::to_string(native_count_) +
                                 " native tasklet(s), whose stacks are machine state that runs as code in this "
                                 "process; thaw it only from a trusted source, with ThawOptions::allow_native = true");
    }
    if (native_count_) native_.check(native_root(root));
    resolve_frame_types(root.getFrameTypes());
    resolve_value_types(root.getValueTypes());
    create_channels(root.getChannels());

    auto archive = root.getArchive();
    persist::SpanSource source(std::string_view(reinterpret_cast<const char*>(archive.begin()), archive.size()));
    try {
      persist::IArchive ar(source);
      ar_ = &ar;
      load_tasklets();
      load_buffers(root.getChannels());
      ar_ = nullptr;
    } catch (...) {
      ar_ = nullptr;
      throw;
    }
    if (source.remaining() != 0) corrupt("archive", std::to_string(source.remaining()) + " bytes left unread");
    plan(root);
    check_senders();
    return commit();
  }

  // The message with its tasklets as a list, for the native thawer, which reads
  // native records tasklet by tasklet: a format-3 table is expanded (copied) once.
  // Only snapshots with native tasklets pay for it.
  schema::Snapshot::Reader native_root(schema::Snapshot::Reader root) {
    if (!persist::has_tasklet_table(root)) return root;
    if (!listed_) {
      listed_ = std::make_unique<capnp::MallocMessageBuilder>();
      persist::expand_tasklet_table(root, listed_->initRoot<schema::Snapshot>(), options_.source_name);
    }
    return listed_->getRoot<schema::Snapshot>().asReader();
  }

  // --- FrameReader ---
 public:
  persist::IArchive& archive() noexcept override { return *ar_; }

  ChannelBase* channel(std::uint32_t index, const ValueCodec& codec) override {
    if (index == kNullChannel) return nullptr;
    if (index >= channels_.size()) {
      corrupt(where(), "channel reference " + std::to_string(index) + " is out of range (" +
                          std::to_string(channels_.size()) + " channels)");
    }
    ChannelBase* ch = channel_ptrs_[index];
    if (ch->value_type() != *codec.type) {
      throw SnapshotIncompatible(options_.source_name + ": " + where() + ": a field of type channel<" + codec.name +
                                 "> refers to channel #" + std::to_string(ch->id()) + " of " + channel_codecs_[index]->name +
                                 "; the frame's fields do not match the program that wrote it");
    }
    return ch;
  }

 private:
  // The record being read, for error messages; the text is built only for an error.
  struct Where {
    enum Kind : std::uint8_t { kArchive, kFrame, kSlot, kBuffer } kind = kArchive;
    unsigned i = 0;  // tasklet or channel
    unsigned j = 0;  // frame or buffered value
    const FramePersistOps* type = nullptr;
    std::uint32_t version = 0;
  };

  std::string where() const {
    const std::string i = std::to_string(where_.i), j = std::to_string(where_.j);
    switch (where_.kind) {
      case Where::kFrame:
        return "tasklets[" + i + "].frames[" + j + "] (frame type '" + where_.type->ops->name + "' v" +
               std::to_string(where_.version) + ")";
      case Where::kSlot: return "tasklets[" + i + "].slot";
      case Where::kBuffer: return "channels[" + i + "].buffer[" + j + "]";
      case Where::kArchive: break;
    }
    return "archive";
  }

  [[noreturn]] void corrupt(const std::string& where, const std::string& what) const {
    throw SnapshotCorrupt(options_.source_name + ": " + where + ": " + what);
  }

  void resolve_frame_types(capnp::List<schema::FrameType>::Reader types) {
    for (auto ft : types) {
      std::string name = ft.getName();
      const FrameOps* ops = FrameRegistry::instance().find_or_null(name);
      if (!ops) {
        throw UnknownFrameType(options_.source_name + ": frame type '" + name +
                               "' is not registered in this program; link the code that defines it and register it "
                               "with STASIS_PERSISTENT_FRAME(Type, \"" + name + "\", " +
                               std::to_string(ft.getVersion()) + ")");
      }
      const FramePersistOps* p = persist::persist_ops_of(*ops);
      if (!p) {
        throw UnknownFrameType(options_.source_name + ": frame type '" + name +
                               "' is registered with STASIS_REGISTER_FRAME only; register it with "
                               "STASIS_PERSISTENT_FRAME to restore it");
      }
      std::uint32_t v = ft.getVersion();
      if (v > ops->version) {
        throw FrameVersionError(options_.source_name + ": frame type '" + name + "' was written with version " +
                                std::to_string(v) + ", newer than version " + std::to_string(ops->version) +
                                " registered here; restore it with the newer program");
      }
      if (v < ops->version && !p->custom_serialize) {
        throw FrameVersionError(options_.source_name + ": frame type '" + name + "' was written with version " +
                                std::to_string(v) + "; this program registers version " +
                                std::to_string(ops->version) +
                                " without a serialize(ar, version) that reads older versions; add one");
      }
      frame_types_.push_back({p, v});
    }
  }

  void resolve_value_types(capnp::List<schema::ValueType>::Reader types) {
    for (auto vt : types) {
      std::string name = vt.getName();
      const ValueCodec* c = persist::ValueCodecs::instance().find(name);
      if (!c) {
        throw UnknownValueType(options_.source_name + ": value type '" + name +
                               "' has no codec in this program; register it with STASIS_PERSISTENT_VALUE(Type, \"" +
                               name + "\") or reference it from a persistent frame's Channel<Type>* field");
      }
      value_types_.push_back(c);
    }
  }

  void create_channels(capnp::List<schema::Channel>::Reader list) {
    for (auto rec : list) {
      const ValueCodec* codec = value_types_[rec.getValueType()];
      ChannelOptions o;
      o.name = rec.getName();
      o.capacity = rec.getCapacity();
      o.preference = rec.getPreference();
      o.schedule_all = rec.getScheduleAll();
      if (options_.resolve_channel) {
        if (ChannelBase* existing = options_.resolve_channel(rec.getId(), *codec, o)) {
          if (existing->value_type() != *codec->type) {
            throw SnapshotIncompatible(options_.source_name + ": channel #" + std::to_string(rec.getId()) + " of '" +
                                       codec->name + "' was resolved to " + existing->label() +
                                       " of another value type; the programs disagree on the channel's type");
          }
          channels_.emplace_back();  // not owned
          channel_ptrs_.push_back(existing);
          channel_codecs_.push_back(codec);
          continue;
        }
      }
      channels_.emplace_back(codec->make_channel(std::move(o)));
      channels_.back()->closing_ = rec.getClosing();
      channel_ptrs_.push_back(channels_.back().get());
      channel_codecs_.push_back(codec);
    }
  }

  // Reads every tasklet's frames and slot from the archive, by the records the
  // validator copied (no second read of the message).
  void load_tasklets() {
    const auto& tasklets = validated_.tasklets;
    const auto& frames = validated_.frames;
    frames_.reserve(frames.size());
    slots_.resize(validated_.extras.size());
    std::size_t extra = 0;
    for (unsigned i = 0; i < tasklets.size(); ++i) {
      const persist::ValidatedTasklet& t = tasklets[i];
      const std::size_t start = frames_.size();
      if (t.bits & persist::ValidatedTasklet::kNative) {
        if (native_frames_.empty()) native_frames_.resize(tasklets.size(), nullptr);
        if (!native_list_read_) {
          native_list_ = native_root(root_).getTasklets();  // once: each list read counts against the traversal limit
          native_list_read_ = true;
        }
        native_frames_[i] = native_.prepare(native_list_[i], i);
      }
      for (unsigned j = 0; j < t.frame_count; ++j) {
        const persist::ValidatedFrame& fr = frames[start + j];
        // Not a structured binding: clang before 16 cannot capture one in the lambda below.
        const FramePersistOps* p = frame_types_[fr.type].first;
        const std::uint32_t version = frame_types_[fr.type].second;
        where_ = {Where::kFrame, i, j, p, version};
        std::size_t before = ar_->consumed();
        frames_.push_back(nullptr);  // cannot throw after the frame exists
        FrameBase* f = guarded([&] { return p->load(*this, version); });
        frames_.back() = f;
        f->stasis_rp_ = fr.resume_point;
        if (fr.catches_child) f->stasis_flags_ |= FrameBase::kCatchesChild;
        check_bytes(before, fr.archive_bytes);
      }
      for (std::size_t j = start; j + 1 < frames_.size(); ++j) frames_[j]->stasis_caller_ = frames_[j + 1];
      if (!(t.bits & persist::ValidatedTasklet::kExtra)) continue;
      const persist::ValidatedExtra& x = validated_.extras[extra];
      if (t.bits & persist::ValidatedTasklet::kHasSlot) {
        where_ = {Where::kSlot, i};
        std::size_t before = ar_->consumed();
        guarded([&] {
          value_types_[x.slot_type]->load(*ar_, slots_[extra]);
          return 0;
        });
        check_bytes(before, x.slot_bytes);
      }
      ++extra;
    }
  }

  // The slot read for tasklet `i` (empty if it holds none).
  const std::any& slot_of(std::uint32_t i) const {
    static const std::any none;
    const auto& extras = validated_.extras;
    auto it = std::lower_bound(extras.begin(), extras.end(), i,
                               [](const persist::ValidatedExtra& x, std::uint32_t t) { return x.tasklet < t; });
    return it != extras.end() && it->tasklet == i ? slots_[static_cast<std::size_t>(it - extras.begin())] : none;
  }

  void load_buffers(capnp::List<schema::Channel>::Reader list) {
    for (unsigned i = 0; i < list.size(); ++i) {
      auto buf = list[i].getBuffer();
      // A resolved channel keeps its own buffer: the record's values are read
      // (the archive is sequential) into a scratch channel and dropped.
      std::unique_ptr<ChannelBase> scratch;
      ChannelBase* target = channels_[i].get();
      if (!target && buf.size() > 0) {
        scratch.reset(channel_codecs_[i]->make_channel({}));
        target = scratch.get();
      }
      for (unsigned k = 0; k < buf.size(); ++k) {
        where_ = {Where::kBuffer, i, k};
        if (value_types_[buf[k].getType()] != channel_codecs_[i]) {
          corrupt(where(), "value type differs from the channel's");
        }
        std::size_t before = ar_->consumed();
        guarded([&] {
          channel_codecs_[i]->load_buffered(*ar_, *target);
          return 0;
        });
        check_bytes(before, buf[k].getArchiveBytes());
      }
    }
  }


  // What commit() needs from the message besides the validated records, read
  // beforehand: reading the message can still fail (a pointer the validator does
  // not follow, the traversal limit, which every list fetch is charged to), and
  // commit() must not fail half-way.
  void plan(schema::Snapshot::Reader root) {
    auto channels = root.getChannels();
    channel_ids_.reserve(channels.size());
    for (unsigned c = 0; c < channels.size(); ++c) channel_ids_.push_back(channels[c].getId());
    whole_scheduler_ = root.getScope() == schema::Snapshot::Scope::SCHEDULER;
    auto sched = root.getScheduler();
    saved_steps_ = sched.getSteps();
    saved_rng_ = sched.getRngState();
  }

  // A tasklet queued as a sender hands its slot to the receiver that takes it
  // (Channel<T>::receive_op reads it as a T without checking): it must hold a value
  // of the channel's type. The validator cannot see types; this is checked here.
  void check_senders() const {
    check_resolved_waiters();
    std::uint32_t begin = 0;
    for (std::uint32_t c = 0; c < validated_.waiter_ends.size(); ++c) {
      const std::uint32_t end = validated_.waiter_ends[c];
      for (std::uint32_t k = begin; k < end; ++k) {
        const std::uint32_t w = validated_.waiters[k], tasklet = w >> 1;
        if (!(w & 1)) continue;  // receivers hold nothing to hand over
        const std::any& slot = slot_of(tasklet);
        if (slot.has_value() && slot.type() == *channel_codecs_[c]->type) continue;
        corrupt("channels[" + std::to_string(c) + "].waiters[" + std::to_string(k - begin) + "]",
                "tasklet " + std::to_string(validated_.tasklets[tasklet].id) + " waits to send on a channel of '" +
                    channel_codecs_[c]->name + "' but holds " +
                    (slot.has_value() ? "a value of another type" : "no value") + " in flight");
      }
      begin = end;
    }
  }

  // Waiters joining a resolved channel must wait in the direction its queue
  // already waits (a queue never holds senders and receivers at once).
  void check_resolved_waiters() const {
    std::uint32_t begin = 0;
    for (std::uint32_t c = 0; c < validated_.waiter_ends.size(); ++c) {
      const std::uint32_t end = validated_.waiter_ends[c];
      const ChannelBase* ch = channel_ptrs_[c];
      for (std::uint32_t k = begin; k < end && !channels_[c]; ++k) {
        const bool sending = validated_.waiters[k] & 1;
        if ((sending && ch->balance() < 0) || (!sending && ch->balance() > 0)) {
          throw SnapshotIncompatible(options_.source_name + ": a tasklet waits to " + (sending ? "send on " : "receive from ") +
                                     ch->label() + ", where " + (sending ? "receivers" : "senders") +
                                     " wait already; restore it when that channel's queue has drained");
        }
      }
      begin = end;
    }
  }

  void check_bytes(std::size_t before, std::uint32_t expected) const {
    std::size_t used = ar_->consumed() - before;
    if (used != expected) {
      corrupt(where(), "read " + std::to_string(used) + " archive bytes where the record says " +
                          std::to_string(expected) +
                          "; the fields' serialization does not match the program that wrote them");
    }
  }

  // Runs a load step, turning Boost and standard-library failures into typed errors.
  template <class F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const SnapshotCorrupt& e) {
      // The bounded archive's own refusals (archive.cc) do not know the record: name it.
      if (std::string_view(e.what()).starts_with(persist::kArchiveErrorPrefix)) corrupt(where(), e.what());
      throw;
    } catch (const Error&) {
      throw;
    } catch (const boost::archive::archive_exception& e) {
      corrupt(where(), std::string("field archive: ") + e.what());
    } catch (const std::bad_alloc&) {
      corrupt(where(), "field archive: a size in it asks for more memory than is available");
    } catch (const std::exception& e) {
      corrupt(where(), std::string("field archive: ") + e.what());
    }
  }

  // Creates the tasklets and puts everything in place. Nothing here can fail on
  // snapshot content: it was all checked and read (plan()) above.
  persist::Thawed commit() {
    persist::Thawed out;
    const std::size_t count = validated_.tasklets.size();
    bool keep_ids = options_.keep_ids && s_.alive_count_ == 0;
    if (keep_ids) {
      std::uint64_t max_channel = 0;
      for (unsigned i = 0; i < channels_.size(); ++i) {
        if (!channels_[i]) continue;  // resolved: keeps its id
        channels_[i]->id_ = channel_ids_[i];
        max_channel = std::max(max_channel, channels_[i]->id_);
      }
      reserve_channel_ids_through(max_channel);
    }
    out.tasklets_.reserve(count);
    out.ids_kept_ = keep_ids;  // then the tasklets' ids are the snapshot ids
    if (!keep_ids) out.snapshot_ids_.reserve(count);
    auto now = Scheduler::Clock::now();
    const bool park_as_created = validated_.waiters_in_tasklet_order;
    std::size_t next_frame = 0, next_extra = 0;
    for (unsigned i = 0; i < count; ++i) {
      const persist::ValidatedTasklet& rec = validated_.tasklets[i];
      std::uint64_t id = keep_ids ? rec.id : s_.next_id_++;
      if (keep_ids && id >= s_.next_id_) s_.next_id_ = id + 1;
      const std::size_t start = next_frame, end = start + rec.frame_count;
      next_frame = end;
      const bool native = rec.bits & persist::ValidatedTasklet::kNative;
      Tasklet* t = new Tasklet(id, native ? native_frames_[i] : frames_[start]);
      if (native) ::stasis::detail::attach_native(*t, native_frames_[i]);
      std::fill(frames_.begin() + static_cast<std::ptrdiff_t>(start), frames_.begin() + static_cast<std::ptrdiff_t>(end),
                nullptr);  // the tasklet owns its chain now
      t->add_ref();  // the scheduler's reference
      ++s_.alive_count_;
      t->priority_ = rec.priority;
      if (rec.bits & persist::ValidatedTasklet::kAtomic) t->flags_ |= Tasklet::kAtomic;
      if (rec.bits & persist::ValidatedTasklet::kBlockTrap) t->flags_ |= Tasklet::kBlockTrap;
      if (rec.bits & persist::ValidatedTasklet::kStarted) t->flags_ |= Tasklet::kStarted;
      const persist::ValidatedExtra* x = nullptr;
      if (rec.bits & persist::ValidatedTasklet::kExtra) {
        x = &validated_.extras[next_extra];
        if (slots_[next_extra].has_value()) t->slot_ = std::move(slots_[next_extra]);
        ++next_extra;
        if (!x->name.empty()) s_.set_name_of(t, std::string(x->name));
      }
      out.tasklets_.emplace_back(t);
      if (!keep_ids) out.snapshot_ids_.push_back(rec.id);
      if (rec.bits & persist::ValidatedTasklet::kInterrupted) out.interrupted_ = TaskletRef(t);
      switch (rec.state) {
        case schema::Tasklet::State::NEW:
        case schema::Tasklet::State::RUNNABLE: s_.make_runnable(t, false); break;
        case schema::Tasklet::State::PAUSED:
          t->state_ = TaskletState::kPaused;
          s_.paused_.push_back(t);
          break;
        case schema::Tasklet::State::BLOCKED:
          t->state_ = TaskletState::kBlocked;
          if (rec.bits & persist::ValidatedTasklet::kSleeps) {
            auto left = std::chrono::nanoseconds(x ? x->sleep_ns : 0);
            // A time left of up to 2^63 ns is valid; keep now + left from overflowing.
            left = std::min<std::chrono::nanoseconds>(left, Scheduler::Clock::time_point::max() - now);
            std::uint64_t seq = ++s_.timer_seq_;
            t->add_ref();
            t->flags_ |= Tasklet::kSlept;
            s_.timers_.push_back(Scheduler::Timer{now + std::chrono::duration_cast<Scheduler::Clock::duration>(left), seq, t});
            std::push_heap(s_.timers_.begin(), s_.timers_.end(), std::greater<>());
            t->waiter_.bits = static_cast<std::uint32_t>(seq);
            t->wait_ = WaitKind::kSleep;
            s_.blocked_.push_back(t);
          }
          // Channel waits: here if every channel lists its waiters in tasklet
          // order (parking now, while the tasklet is in cache, gives the same
          // queues), else below, channel by channel in queue order.
          if (park_as_created) {
            const persist::ValidatedWait& w = validated_.waits[i];
            if (w.kind != persist::ValidatedWait::kNoChannel) park(t, w.channel, w.kind == persist::ValidatedWait::kSend);
          }
          break;
      }
    }
    if (!park_as_created) {
      std::uint32_t begin = 0;
      for (std::uint32_t c = 0; c < validated_.waiter_ends.size(); ++c) {
        const std::uint32_t end = validated_.waiter_ends[c];
        for (std::uint32_t k = begin; k < end; ++k) {
          const std::uint32_t w = validated_.waiters[k];
          park(out.tasklets_[w >> 1].get(), c, (w & 1) != 0);
        }
        begin = end;
      }
    }
    if (native_count_) {
      std::unordered_map<std::uint64_t, Tasklet*> by_id;
      for (unsigned i = 0; i < count; ++i) by_id.emplace(validated_.tasklets[i].id, out.tasklets_[i].get());
      native_.patch([&](std::uint64_t id) { return by_id.at(id); },
                    [&](std::uint32_t index) { return channel_ptrs_[index]; }, s_);
    }
    if (whole_scheduler_ && options_.restore_scheduler_state) {
      s_.steps_ = saved_steps_;
      s_.seed(saved_rng_);
    }
    for (std::unique_ptr<ChannelBase>& ch : channels_) {
      if (ch) out.channels_.push_back(std::move(ch));
    }
    return out;
  }

  // Appends tasklet t (blocked) to channel `channel`'s wait queue.
  void park(Tasklet* t, std::uint32_t channel, bool sending) {
    channel_ptrs_[channel]->park(&t->waiter_, sending);
    t->wait_ = sending ? WaitKind::kSend : WaitKind::kReceive;
    ++s_.channel_blocked_;
  }

  Scheduler& s_;
  const persist::ThawOptions& options_;
  // Native tasklets: made by native_ before commit (which hands them to their
  // tasklets); native_frames_[i] is tasklet i's frame, if native.
  persist::native::NativeThawer native_;
  schema::Snapshot::Reader root_;
  std::unique_ptr<capnp::MallocMessageBuilder> listed_;  // native_root()'s expansion
  capnp::List<schema::Tasklet>::Reader native_list_;
  bool native_list_read_ = false;
  std::size_t native_count_ = 0;
  std::vector<FrameBase*> native_frames_;

  persist::IArchive* ar_ = nullptr;
  Where where_;
  std::vector<std::pair<const FramePersistOps*, std::uint32_t>> frame_types_;
  std::vector<const ValueCodec*> value_types_;
  std::vector<std::unique_ptr<ChannelBase>> channels_;  // null where resolve_channel supplied one
  std::vector<ChannelBase*> channel_ptrs_;              // every record's channel
  std::vector<const ValueCodec*> channel_codecs_;
  // Every tasklet's frames, innermost first, tasklet after tasklet; owned until
  // commit hands each chain to its tasklet (validated_.tasklets says how many each has).
  persist::detail::BulkVector<FrameBase*> frames_;
  persist::Validated validated_;  // what the validator read: tasklets, frames, waiters
  std::vector<std::any> slots_;  // one per validated_.extras entry
  // Read by plan() for commit().
  std::vector<std::uint64_t> channel_ids_;
  bool whole_scheduler_ = false;
  std::uint64_t saved_steps_ = 0;
  std::uint64_t saved_rng_ = 0;
};

}  // namespace stasis::detail

namespace stasis::persist {

Thawed::~Thawed() = default;

TaskletRef Thawed::find(std::string_view name) const {
  for (const TaskletRef& t : tasklets_) {
    if (t->name() == name) return t;
  }
  return TaskletRef();
}

TaskletRef Thawed::by_snapshot_id(std::uint64_t id) const {
  if (ids_kept_) {
    for (const TaskletRef& t : tasklets_) {
      if (t->id() == id) return t;
    }
    return TaskletRef();
  }
  for (std::size_t i = 0; i < snapshot_ids_.size(); ++i) {
    if (snapshot_ids_[i] == id) return tasklets_[i];
  }
  return TaskletRef();
}

Thawed thaw(const Snapshot& snapshot, Scheduler& scheduler, const ThawOptions& options) {
  ::stasis::detail::PersistAccess::Thawer t(scheduler, options);
  return t.run(snapshot);
}

}  // namespace stasis::persist
