// consumer — uses the installed Stasis: a producer/consumer pair over a channel,
// frozen halfway and thawed into a fresh scheduler.
#include <cstdio>

#include <stasis/persist.h>
#include <stasis/stasis.h>

struct Pinger : stasis::Frame<Pinger> {
  stasis::Channel<int>* out = nullptr;
  int i = 0;
  STASIS_FIELDS(out, i)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 1; i <= 100; ++i) STASIS_SEND(cx, *out, i);
    STASIS_END(cx);
  }
};

struct Adder : stasis::Frame<Adder> {
  stasis::Channel<int>* in = nullptr;
  int i = 0, v = 0, sum = 0;
  STASIS_FIELDS(in, i, v, sum)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < 100; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      sum += v;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

STASIS_PERSISTENT_FRAME(Pinger, "consumer.Pinger", 1);
STASIS_PERSISTENT_FRAME(Adder, "consumer.Adder", 1);

int main() {
  stasis::persist::Snapshot snap;
  {
    stasis::Scheduler sched;
    stasis::Channel<int> ch;
    sched.spawn(Pinger{.out = &ch});
    sched.spawn(Adder{.in = &ch}, {.name = "adder"});
    stasis::TaskletRef t = sched.run(50);
    snap = stasis::persist::freeze(sched, {.interrupted = t.get()});
  }
  stasis::Scheduler sched;
  stasis::persist::Thawed restored = stasis::persist::thaw(snap, sched);
  restored.interrupted()->insert();
  auto adder = restored.find("adder");
  sched.run();
  int sum = adder->result<int>();
  std::printf("consumer: sum = %d\n", sum);
  return sum == 5050 ? 0 : 1;
}
