// thaw.cc — recreating tasklets, frames and channels from a snapshot message.
//
// All-or-nothing: everything is decoded, type-checked and built off to the side
// first (frames, channels, values); only when nothing can fail any more are the
// tasklets created and put in the scheduler's queues, wait queues and timers.
// The archive is read in the order freeze.cc wrote it.
#include <capnp/message.h>

#include <chrono>
#include <memory>
#include <unordered_map>

#include <boost/archive/archive_exception.hpp>

#include "producer.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/validate.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::detail {

using persist::FramePersistOps;
using persist::kNullChannel;
using persist::ValueCodec;

class PersistAccess::Thawer final : public persist::FrameReader {
 public:
  Thawer(Scheduler& s, const persist::ThawOptions& options) : s_(s), options_(options) {
    if (s.running_) {
      throw SchedulerError("thaw: the scheduler is running; thaw from outside Scheduler::run()");
    }
  }
  ~Thawer() {
    for (auto& chain : frames_) {
      for (FrameBase* f : chain) destroy_frame(f);
    }
  }

  persist::Thawed run(const persist::Snapshot& snapshot) {
    const std::string& src = options_.source_name;
    persist::MessageView view = persist::MessageView::from_bytes(snapshot.bytes(), options_.limits, src);
    return persist::with_capnp_errors(src, [&] { return load(view.root()); });
  }

 private:
  persist::Thawed load(schema::Snapshot::Reader root) {
    const std::string& src = options_.source_name;
    persist::validate_snapshot(root, src);
    persist::check_producer(root.getProducer(), src);
    resolve_frame_types(root.getFrameTypes());
    resolve_value_types(root.getValueTypes());
    create_channels(root.getChannels());

    auto archive = root.getArchive();
    persist::SpanSource source(std::string_view(reinterpret_cast<const char*>(archive.begin()), archive.size()));
    try {
      persist::IArchive ar(source);
      ar_ = &ar;
      load_tasklets(root.getTasklets());
      load_buffers(root.getChannels());
      ar_ = nullptr;
    } catch (...) {
      ar_ = nullptr;
      throw;
    }
    if (source.remaining() != 0) corrupt("archive", std::to_string(source.remaining()) + " bytes left unread");
    return commit(root);
  }

  // --- FrameReader ---
 public:
  persist::IArchive& archive() noexcept override { return *ar_; }

  ChannelBase* channel(std::uint32_t index, const ValueCodec& codec) override {
    if (index == kNullChannel) return nullptr;
    if (index >= channels_.size()) {
      corrupt(where_, "channel reference " + std::to_string(index) + " is out of range (" +
                          std::to_string(channels_.size()) + " channels)");
    }
    ChannelBase* ch = channels_[index].get();
    if (ch->value_type() != *codec.type) {
      throw SnapshotIncompatible(options_.source_name + ": " + where_ + ": a field of type channel<" + codec.name +
                                 "> refers to channel #" + std::to_string(ch->id()) + " of " + channel_codecs_[index]->name +
                                 "; the frame's fields do not match the program that wrote it");
    }
    return ch;
  }

 private:
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
      channels_.emplace_back(codec->make_channel(std::move(o)));
      channels_.back()->closing_ = rec.getClosing();
      channel_codecs_.push_back(codec);
    }
  }

  void load_tasklets(capnp::List<schema::Tasklet>::Reader list) {
    frames_.reserve(list.size());
    slots_.resize(list.size());
    for (unsigned i = 0; i < list.size(); ++i) {
      auto t = list[i];
      frames_.emplace_back();
      std::vector<FrameBase*>& chain = frames_.back();
      auto frames = t.getFrames();
      chain.reserve(frames.size());
      for (unsigned j = 0; j < frames.size(); ++j) {
        auto fr = frames[j];
        const auto& [p, version] = frame_types_[fr.getType()];
        where_ = "tasklets[" + std::to_string(i) + "].frames[" + std::to_string(j) + "] (frame type '" +
                 p->ops->name + "' v" + std::to_string(version) + ")";
        std::size_t before = ar_->consumed();
        FrameBase* f = guarded([&] { return p->load(*this, version); });
        chain.push_back(f);
        f->stasis_rp_ = fr.getResumePoint();
        if (fr.getCatchesChild()) f->stasis_flags_ |= FrameBase::kCatchesChild;
        check_bytes(before, fr.getArchiveBytes());
      }
      for (std::size_t j = 0; j + 1 < chain.size(); ++j) chain[j]->stasis_caller_ = chain[j + 1];
      if (t.getHasSlot()) {
        where_ = "tasklets[" + std::to_string(i) + "].slot";
        auto v = t.getSlot();
        std::size_t before = ar_->consumed();
        guarded([&] {
          value_types_[v.getType()]->load(*ar_, slots_[i]);
          return 0;
        });
        check_bytes(before, v.getArchiveBytes());
      }
    }
  }

  void load_buffers(capnp::List<schema::Channel>::Reader list) {
    for (unsigned i = 0; i < list.size(); ++i) {
      auto buf = list[i].getBuffer();
      for (unsigned k = 0; k < buf.size(); ++k) {
        where_ = "channels[" + std::to_string(i) + "].buffer[" + std::to_string(k) + "]";
        if (value_types_[buf[k].getType()] != channel_codecs_[i]) {
          corrupt(where_, "value type differs from the channel's");
        }
        std::size_t before = ar_->consumed();
        guarded([&] {
          channel_codecs_[i]->load_buffered(*ar_, *channels_[i]);
          return 0;
        });
        check_bytes(before, buf[k].getArchiveBytes());
      }
    }
  }

  void check_bytes(std::size_t before, std::uint32_t expected) const {
    std::size_t used = ar_->consumed() - before;
    if (used != expected) {
      corrupt(where_, "read " + std::to_string(used) + " archive bytes where the record says " +
                          std::to_string(expected) +
                          "; the fields' serialization does not match the program that wrote them");
    }
  }

  // Runs a load step, turning Boost and standard-library failures into typed errors.
  template <class F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error&) {
      throw;
    } catch (const boost::archive::archive_exception& e) {
      corrupt(where_, std::string("field archive: ") + e.what());
    } catch (const std::bad_alloc&) {
      corrupt(where_, "field archive: a size in it asks for more memory than is available");
    } catch (const std::exception& e) {
      corrupt(where_, std::string("field archive: ") + e.what());
    }
  }

  // Creates the tasklets and puts everything in place. Nothing here can fail on
  // snapshot content: it was all checked above.
  persist::Thawed commit(schema::Snapshot::Reader root) {
    persist::Thawed out;
    auto list = root.getTasklets();
    bool keep_ids = options_.keep_ids && s_.alive_count_ == 0;
    if (keep_ids) {
      std::uint64_t max_channel = 0;
      for (unsigned i = 0; i < channels_.size(); ++i) {
        channels_[i]->id_ = root.getChannels()[i].getId();
        max_channel = std::max(max_channel, channels_[i]->id_);
      }
      reserve_channel_ids_through(max_channel);
    }
    std::unordered_map<std::uint64_t, Tasklet*> by_id;
    by_id.reserve(list.size());
    out.tasklets_.reserve(list.size());
    out.snapshot_ids_.reserve(list.size());
    auto now = Scheduler::Clock::now();
    for (unsigned i = 0; i < list.size(); ++i) {
      auto rec = list[i];
      std::uint64_t id = keep_ids ? rec.getId() : s_.next_id_++;
      if (keep_ids && id >= s_.next_id_) s_.next_id_ = id + 1;
      Tasklet* t = new Tasklet(id, frames_[i].front());
      frames_[i].clear();
      t->add_ref();  // the scheduler's reference
      ++s_.alive_count_;
      t->priority_ = rec.getPriority();
      if (rec.getAtomic()) t->flags_ |= Tasklet::kAtomic;
      if (rec.getBlockTrap()) t->flags_ |= Tasklet::kBlockTrap;
      if (rec.getStarted()) t->flags_ |= Tasklet::kStarted;
      t->slot_ = std::move(slots_[i]);
      if (rec.hasName()) s_.set_name_of(t, rec.getName());
      by_id.emplace(rec.getId(), t);
      out.tasklets_.emplace_back(t);
      out.snapshot_ids_.push_back(rec.getId());
      if (rec.getInterrupted()) out.interrupted_ = TaskletRef(t);
      switch (rec.getState()) {
        case schema::Tasklet::State::NEW:
        case schema::Tasklet::State::RUNNABLE: s_.make_runnable(t, false); break;
        case schema::Tasklet::State::PAUSED:
          t->state_ = TaskletState::kPaused;
          s_.paused_.push_back(t);
          break;
        case schema::Tasklet::State::BLOCKED:
          t->state_ = TaskletState::kBlocked;
          if (rec.getWait().isSleep()) {
            auto left = std::chrono::nanoseconds(rec.getWait().getSleep());
            std::uint64_t seq = ++s_.timer_seq_;
            t->add_ref();
            t->flags_ |= Tasklet::kSlept;
            s_.timers_.push_back(Scheduler::Timer{now + std::chrono::duration_cast<Scheduler::Clock::duration>(left), seq, t});
            std::push_heap(s_.timers_.begin(), s_.timers_.end(), std::greater<>());
            t->waiter_.bits = static_cast<std::uint32_t>(seq);
            t->wait_ = WaitKind::kSleep;
            s_.blocked_.push_back(t);
          }
          break;  // channel waits: below, in each channel's queue order
      }
    }
    auto channels = root.getChannels();
    for (unsigned i = 0; i < channels.size(); ++i) {
      for (auto w : channels[i].getWaiters()) {
        Tasklet* t = by_id.at(w.getTasklet());
        channels_[i]->park(&t->waiter_, w.getSending());
        t->wait_ = w.getSending() ? WaitKind::kSend : WaitKind::kReceive;
        ++s_.channel_blocked_;
      }
    }
    if (root.getScope() == schema::Snapshot::Scope::SCHEDULER && options_.restore_scheduler_state) {
      s_.steps_ = root.getScheduler().getSteps();
      s_.seed(root.getScheduler().getRngState());
    }
    out.channels_ = std::move(channels_);
    return out;
  }

  Scheduler& s_;
  const persist::ThawOptions& options_;
  persist::IArchive* ar_ = nullptr;
  std::string where_;
  std::vector<std::pair<const FramePersistOps*, std::uint32_t>> frame_types_;
  std::vector<const ValueCodec*> value_types_;
  std::vector<std::unique_ptr<ChannelBase>> channels_;
  std::vector<const ValueCodec*> channel_codecs_;
  std::vector<std::vector<FrameBase*>> frames_;  // per tasklet, innermost first; owned until commit
  std::vector<std::any> slots_;
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
