#!/usr/bin/env python3
"""greenlet peer of stasis_bench's switch/stasis_sliced/* benchmarks: the round
trip of two greenlets switching back and forth, with their C stacks sliced the
way Stasis slices sliced tasklets (greenlet copies the part of the outgoing
greenlet's C stack that the incoming one needs to the heap, and copies the
incoming one's saved part back).

  python3 greenlet_switch.py [--targets 256,1024,8192] [-n 200000] [--reps 1]

One round trip = g1 -> g2 -> g1 (two `greenlet.switch()` calls), timed in g1
over -n round trips with time.process_time_ns() (the process's CPU time: the
Stasis side is timed with its thread's CPU time); the best of --reps is kept.

Both greenlets are started from the main greenlet at the same stack depth, so
their stacks overlap and every switch really copies: the outgoing greenlet's
live C stack goes to the heap and the incoming one's comes back. (Started from
inside each other they would nest on the stack and copy next to nothing.)

Live stack. Under CPython 3.11 a Python-to-Python call does not use the C stack,
so a greenlet's live C stack is the interpreter's own C frames between where it
was started and its switch() call: about 1.3 KiB, the least a greenlet can
have. More is added by C-level recursion: each level calls back into Python
through a C builtin (next(map(f, ...))), a new C activation of the interpreter
loop, 500-700 bytes each. For each target size X the script takes the fewest
levels whose saved stack is at least X bytes (no levels when even the minimum is
larger) and reports the bytes greenlet actually saved: `saved_bytes` is
greenlet's own count (`greenlet._stack_saved`, the bytes of a switched-out
greenlet's stack held on the heap), the larger of the two greenlets'.

Prints one JSON object; exits 1 if greenlet is missing or a run goes wrong (the
round trips are counted on both sides and checked).
"""

import argparse
import json
import sys
import time

try:
    import greenlet
except ImportError as e:  # pragma: no cover - reported to ratios.py
    sys.exit("greenlet_switch.py: cannot import greenlet (Debian: python3-greenlet): %s" % e)


def recurse(levels, fn):
    """Calls fn() `levels` C activations of the interpreter deeper."""
    if levels == 0:
        return fn()
    return next(map(recurse, [levels - 1], [fn]))


def measure(levels, n):
    """Returns (ns per round trip, saved bytes) of two greenlets `levels` deep."""
    main = greenlet.getcurrent()
    info = {"count2": 0}
    g1 = g2 = None

    def body1():
        def loop():
            main.switch()                      # parked at depth; main then starts g2
            other = g2
            t0 = time.process_time_ns()
            for _ in range(n):
                other.switch()
            t1 = time.process_time_ns()
            info["ns"] = (t1 - t0) / n
            info["count1"] = n
            main.switch()
        recurse(levels, loop)

    def body2():
        def loop():
            other = g1
            while True:
                info["saved1"] = g1._stack_saved  # g1 is switched out here
                info["count2"] += 1
                other.switch()
        recurse(levels, loop)

    g1 = greenlet.greenlet(body1)
    g2 = greenlet.greenlet(body2)
    g1.switch()            # g1 runs down to its loop and comes back
    g2.switch()            # g2 starts from the same depth; the ping-pong runs; g1 returns here
    saved2 = g2._stack_saved  # g2 switched out
    # g2 ran once when main started it (then switched to g1, before the clock
    # started) and once per round trip after that
    if info.get("count1") != n or info["count2"] != n + 1:
        raise RuntimeError("greenlet ping-pong: %s/%s round trips, want %d"
                           % (info.get("count1"), info["count2"], n))
    g1.throw(greenlet.GreenletExit)
    g2.throw(greenlet.GreenletExit)
    return info["ns"], max(info["saved1"], saved2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="256,1024,8192", help="live stack sizes in bytes, comma-separated")
    ap.add_argument("-n", type=int, default=200000, help="round trips per measurement")
    ap.add_argument("--reps", type=int, default=1, help="measurements per point; the best is kept")
    args = ap.parse_args()
    targets = [int(t) for t in args.targets.split(",") if t]

    # Levels of C recursion -> saved bytes, probed with short runs.
    levels_for = {}
    saved_at = {}
    for target in targets:
        levels = 0
        while True:
            if levels not in saved_at:
                saved_at[levels] = measure(levels, 100)[1]
            if saved_at[levels] >= target or levels >= 200:
                break
            levels += 1
        levels_for[target] = levels

    points = []
    for target in targets:
        levels = levels_for[target]
        best, saved = None, None
        for _ in range(max(args.reps, 1)):
            ns, saved = measure(levels, args.n)
            best = ns if best is None else min(best, ns)
        points.append({"target_bytes": target, "levels": levels, "saved_bytes": saved,
                       "ns_per_roundtrip": best})
    json.dump({"name": "switch/greenlet", "python": sys.version.split()[0],
               "greenlet": getattr(greenlet, "__version__", "?"), "roundtrips": args.n,
               "points": points}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
