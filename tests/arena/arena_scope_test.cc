// arena_scope_test.cc — tasklet scope: with stasis::arena_new linked, every form
// of operator new allocates from the current share, delete finds the block's
// share from its address, and scopes are per thread.
//
// Checks run outside the scopes: a failed EXPECT allocates its message, which
// must not land in a share the test destroys.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "share_guard.h"
#include "stasis/arena.h"

namespace arena = stasis::arena;

namespace {

using arena_test::ShareGuard;

struct alignas(64) Line {
  char bytes[64];
};
struct alignas(32768) Huge {
  char bytes[100];
};

}  // namespace

TEST(ArenaScope, NoShareIsCurrentUntilSetAndScopesNest) {
  EXPECT_EQ(arena::current_share(), nullptr);
  ShareGuard a, b;
  {
    arena::ScopedShare in_a(a.s);
    arena::Share* seen_a = arena::current_share();
    arena::Share* seen_b;
    {
      arena::ScopedShare in_b(b.s);
      seen_b = arena::current_share();
    }
    arena::Share* back = arena::current_share();
    arena::ScopedShare none(nullptr);
    arena::Share* seen_none = arena::current_share();
    arena::set_current_share(nullptr);  // leaves scopes as they are: none restores a
    EXPECT_EQ(seen_a, a.s);
    EXPECT_EQ(seen_b, b.s);
    EXPECT_EQ(back, a.s);
    EXPECT_EQ(seen_none, nullptr);
  }
  EXPECT_EQ(arena::current_share(), nullptr);
}

TEST(ArenaScope, TheCurrentShareIsPerThread) {
  ShareGuard g;
  std::atomic<int> stage{0};
  arena::Share* seen = g.s;
  std::thread other([&] {
    while (stage.load() == 0) std::this_thread::yield();
    seen = arena::current_share();
    stage.store(2);
  });
  arena::set_current_share(g.s);  // only once the thread exists: its state is not in g
  stage.store(1);
  while (stage.load() != 2) std::this_thread::yield();
  arena::set_current_share(nullptr);
  other.join();
  EXPECT_EQ(seen, nullptr);
}

TEST(ArenaScope, ContainersBuiltInScopeLiveInTheShareAndAreFreedOutside) {
  ShareGuard g;
  std::vector<int>* v;
  std::string* str;
  std::map<int, std::string>* m;
  {
    arena::ScopedShare in(g.s);
    v = new std::vector<int>(1000, 7);
    str = new std::string(200, 'x');
    m = new std::map<int, std::string>;
    for (int i = 0; i < 100; ++i) (*m)[i] = std::string(50, static_cast<char>('a' + i % 26));
    v->resize(5000, 8);  // grows by reallocation inside the share
  }
  auto outside = std::make_unique<int>(1);
  EXPECT_FALSE(arena::contains(outside.get()));
  EXPECT_TRUE(arena::contains(v));
  EXPECT_TRUE(arena::contains(v->data()));
  EXPECT_TRUE(arena::contains(str));
  EXPECT_TRUE(arena::contains(str->data()));
  EXPECT_EQ(arena::share_of(str->data()), g.s);
  EXPECT_TRUE(arena::contains(m));
  for (auto& [k, s] : *m) {
    EXPECT_TRUE(arena::contains(&s)) << "the node of key " << k;
    EXPECT_TRUE(arena::contains(s.data())) << "the string of key " << k;
  }
  EXPECT_EQ((*v)[999], 7);
  EXPECT_EQ((*v)[4999], 8);
  EXPECT_GT(arena::bytes_in_use(g.s), 5000 * sizeof(int));
  // A container made in scope keeps growing from the share when modified in scope,
  // and from the heap outside: both kinds of block are freed by delete.
  v->push_back(9);  // no share current: a heap block replaces the arena one
  EXPECT_FALSE(arena::contains(v->data()));
  delete v;
  delete str;
  delete m;
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaScope, EveryFormOfNewFollowsTheScope) {
  ShareGuard g;
  struct Made {
    int* one;
    int* many;
    int* nothrow_one;
    int* nothrow_many;
    Line* line;
    Line* lines;
    Huge* huge;
    Line* nothrow_line;
  };
  auto make = [] {
    return Made{new int(1),      new int[10],   new (std::nothrow) int(2), new (std::nothrow) int[10],
                new Line{},      new Line[3],   new Huge{},                new (std::nothrow) Line{}};
  };
  auto all = [](const Made& m, bool in) {
    return arena::contains(m.one) == in && arena::contains(m.many) == in && arena::contains(m.nothrow_one) == in &&
           arena::contains(m.nothrow_many) == in && arena::contains(m.line) == in && arena::contains(m.lines) == in &&
           arena::contains(m.huge) == in && arena::contains(m.nothrow_line) == in;
  };
  auto aligned = [](const Made& m) {
    return reinterpret_cast<std::uintptr_t>(m.line) % 64 == 0 && reinterpret_cast<std::uintptr_t>(m.lines) % 64 == 0 &&
           reinterpret_cast<std::uintptr_t>(m.huge) % 32768 == 0 &&
           reinterpret_cast<std::uintptr_t>(m.nothrow_line) % 64 == 0;
  };
  auto destroy = [](const Made& m) {
    delete m.one;
    delete[] m.many;
    ::operator delete(m.nothrow_one, sizeof(int));  // the sized form
    delete[] m.nothrow_many;
    delete m.line;
    delete[] m.lines;
    delete m.huge;
    ::operator delete(m.nothrow_line, std::align_val_t{alignof(Line)}, std::nothrow);
  };
  Made in, out = make();
  {
    arena::ScopedShare scope(g.s);
    in = make();
  }
  EXPECT_TRUE(all(in, true));
  EXPECT_TRUE(all(out, false));
  EXPECT_TRUE(aligned(in));
  EXPECT_TRUE(aligned(out));
  EXPECT_GT(arena::bytes_in_use(g.s), 0u);
  destroy(in);
  destroy(out);
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaScope, ABlockFreedUnderAnotherShareReturnsToItsOwn) {
  ShareGuard a, b;
  std::string* s;
  {
    arena::ScopedShare in(a.s);
    s = new std::string(100, 'a');
  }
  std::size_t b_before = arena::bytes_in_use(b.s);
  {
    arena::ScopedShare in(b.s);
    delete s;
  }
  EXPECT_EQ(arena::bytes_in_use(a.s), 0u);
  EXPECT_EQ(arena::bytes_in_use(b.s), b_before);
}

TEST(ArenaScope, NothrowNewGivesNullWhenTheShareCannotGrow) {
  ShareGuard g;
  void* p;
  {
    arena::ScopedShare in(g.s);
    p = ::operator new(std::size_t{1} << 40, std::nothrow);  // beyond the partition
  }
  EXPECT_EQ(p, nullptr);
  bool threw = false;
  {
    arena::ScopedShare in(g.s);
    try {
      p = ::operator new(std::size_t{1} << 40);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  }
  EXPECT_TRUE(threw);
}

// Shares made and filled on several threads at once: the partition is shared,
// the shares' runs never overlap, and each block belongs to its thread's share.
TEST(ArenaScope, SharesOnSeveralThreadsStayDisjoint) {
  constexpr int kThreads = 4;
  struct Result {
    arena::Share* share = nullptr;
    std::vector<arena::Run> runs;
    std::vector<std::vector<int>>* data = nullptr;
    bool owned = true;
    std::size_t sum = 0;
  };
  std::vector<Result> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&results, t] {
      Result& r = results[t];
      r.share = arena::create_share();
      std::vector<std::vector<int>>* data;
      {
        arena::ScopedShare in(r.share);
        data = new std::vector<std::vector<int>>;
        for (int i = 0; i < 300; ++i) data->emplace_back(static_cast<std::size_t>(i * 13 % 2000 + 1), t);
      }
      for (const auto& d : *data) {
        r.owned = r.owned && arena::share_of(d.data()) == r.share;
        for (int x : d) r.sum += static_cast<std::size_t>(x);
      }
      r.runs = arena::runs(r.share);
      r.data = data;  // freed after the join: one thread at a time uses a share
    });
  }
  for (auto& th : threads) th.join();
  std::vector<arena::Run> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(results[t].owned) << "thread " << t;
    all.insert(all.end(), results[t].runs.begin(), results[t].runs.end());
    delete results[t].data;
    EXPECT_EQ(arena::bytes_in_use(results[t].share), 0u);
  }
  std::sort(all.begin(), all.end(), [](const arena::Run& a, const arena::Run& b) { return a.address < b.address; });
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LE(all[i - 1].address + all[i - 1].mapped, all[i].address) << "runs overlap";
  for (auto& r : results) arena::destroy_share(r.share);
}
