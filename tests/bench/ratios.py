#!/usr/bin/env python3
"""Runs stasis_bench and prints each Stasis/peer pair, the ratio peer/stasis and
the performance goals with PASS/MISS. A report: it exits 0 whether goals pass or
not (non-zero only when the benchmark cannot be run or read).

  python3 tests/bench/ratios.py [path/to/stasis_bench] [--repetitions N]
                                [--freeze-tasklets N]
                                [--json results.json] [--save results.json]

Without a path it looks for build/tests/bench/stasis_bench in the current
directory, then in the repository root. With --repetitions N every timed
benchmark runs N times (interleaved) and the best time per item is kept, which
filters out noise from other processes. Memory benchmarks run once, first, in
their own process (their RSS counter needs a fresh heap). Freeze/thaw benchmarks
run last, in a process of their own (N parked tasklets, default 1,000,000, set
with --freeze-tasklets; 100000 makes a quick run).
"""

import argparse
import json
import os
import re
import subprocess
import sys

GOAL_PINGPONG = 5.0     # ping-pong at least 5x faster than Boost.Fiber
GOAL_SPAWN = 50.0       # spawn + run at least 50x faster than Boost.Fiber
GOAL_MEMORY = 128.0     # at most 128 bytes per parked soft tasklet (frame fields excluded)
GOAL_FREEZE = 1.5       # freeze and thaw each within 1.5x of a bare Boost archive of the same fields

DEFAULT_BINARY = os.path.join("build", "tests", "bench", "stasis_bench")


def find_binary(path):
    if path:
        return path
    repo_root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    for base in (os.getcwd(), repo_root):
        candidate = os.path.join(base, DEFAULT_BINARY)
        if os.path.exists(candidate):
            return candidate
    return DEFAULT_BINARY


def run_once(binary, extra, env=None):
    cmd = [binary, "--benchmark_format=json"] + extra
    print("running: %s%s" % ("".join("%s=%s " % kv for kv in (env or {}).items()), " ".join(cmd)),
          file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=False,
                              env=dict(os.environ, **env) if env else None)
    except OSError as e:
        sys.exit("ratios.py: cannot run %s: %s (build it with -DSTASIS_BUILD_BENCH=ON)" % (binary, e))
    if proc.returncode != 0:
        sys.exit("ratios.py: %s exited with status %d" % (binary, proc.returncode))
    try:
        return json.loads(proc.stdout.decode())
    except ValueError as e:
        sys.exit("ratios.py: output of %s is not JSON: %s" % (binary, e))


def run_bench(binary, repetitions, freeze_tasklets=None):
    """Memory benchmarks run first and once, in their own process, so that the RSS
    they report comes from a fresh heap; the timed pairs then run `repetitions`
    times, interleaved, so that a burst of load elsewhere hits both sides. The
    freeze/thaw benchmarks (a million parked tasklets, hundreds of MB) run last,
    in their own process, likewise repeated and interleaved."""
    doc = run_once(binary, ["--benchmark_filter=^memory/"])
    reps = []
    if repetitions > 1:
        reps = ["--benchmark_repetitions=%d" % repetitions, "--benchmark_enable_random_interleaving=true"]
    timed = ["--benchmark_filter=^(pingpong|spawn)/"] + reps
    doc["benchmarks"] = doc.get("benchmarks", []) + run_once(binary, timed).get("benchmarks", [])
    env = {"STASIS_FREEZE_TASKLETS": str(freeze_tasklets)} if freeze_tasklets else None
    persist = run_once(binary, ["--benchmark_filter=^(freeze|thaw)/"] + reps, env)
    doc["benchmarks"] += persist.get("benchmarks", [])
    return doc


def label_of(name):
    """'spawn/boost_fiber/x/1000000/real_time' -> 'spawn/boost_fiber/x'."""
    parts = name.split("/")
    while parts and (re.fullmatch(r"\d+|real_time|manual_time|iterations:\d+|repeats:\d+", parts[-1])):
        parts.pop()
    return "/".join(parts)


def collect(doc):
    """label -> dict of counters (best time per item over repetitions), or error."""
    out = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        label = label_of(b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            out[label] = {"error": b.get("error_message", "error")}
            continue
        prev = out.get(label)
        cur = {k: v for k, v in b.items() if isinstance(v, (int, float))}
        if prev is None or "error" in prev:
            out[label] = cur
            continue
        for k, v in cur.items():  # keep the best of the repetitions
            if k.startswith("ns_per_"):
                prev[k] = min(prev.get(k, v), v)
            elif k == "items_per_second":
                prev[k] = max(prev.get(k, v), v)
    return out


def ns_per_item(r, key):
    if r is None or "error" in r:
        return None
    if key in r:
        return float(r[key])
    if r.get("items_per_second"):
        return 1e9 / float(r["items_per_second"])
    return None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100000:
        return "%.0f%s" % (v, unit)
    if abs(v) >= 100:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def table(rows, header):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, header))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, r)))


def tasklets_of(doc):
    """The tasklet count of the freeze/thaw benchmarks (their argument), or None."""
    for b in doc.get("benchmarks", []):
        m = re.match(r"(freeze|thaw)/[^/]+(?:/[^/]+)?/(\d+)", b.get("run_name", b.get("name", "")))
        if m:
            return int(m.group(2))
    return None


def fmt_count(n):
    return "{:,}".format(n) if n else "N"


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?", help="path to stasis_bench (default %s)" % DEFAULT_BINARY)
    ap.add_argument("--repetitions", type=int, default=1, help="runs per benchmark; the best is kept")
    ap.add_argument("--freeze-tasklets", type=int, help="parked tasklets in the freeze/thaw benchmarks "
                    "(default: the benchmark's, 1000000)")
    ap.add_argument("--json", help="read results from this JSON file instead of running the benchmark")
    ap.add_argument("--save", help="also write the benchmark's JSON output here")
    args = ap.parse_args()

    if args.json:
        try:
            with open(args.json) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("ratios.py: cannot read %s: %s" % (args.json, e))
    else:
        doc = run_bench(find_binary(args.binary), args.repetitions, args.freeze_tasklets)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(doc, f, indent=1)
    res = collect(doc)
    ctx = doc.get("context", {})
    print("stasis_bench on %s CPUs @ %s MHz, %s build of the benchmark library; best of %d run(s)\n"
          % (ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"), ctx.get("library_build_type", "?"),
             max(args.repetitions, 1)))

    goals = []
    info = []

    # 1. Channel ping-pong round trip.
    s = ns_per_item(res.get("pingpong/stasis"), "ns_per_roundtrip")
    p = ns_per_item(res.get("pingpong/boost_fiber"), "ns_per_roundtrip")
    ratio = p / s if s and p else None
    print("1. Channel ping-pong, ns per round trip (two unbuffered channels, one thread)")
    table([["stasis soft tasklets", fmt(s), ""],
           ["boost.fiber unbuffered_channel", fmt(p), fmt(ratio, "x")]],
          ["side", "ns/round trip", "peer/stasis"])
    goals.append(("ping-pong >= %gx faster than Boost.Fiber" % GOAL_PINGPONG, fmt(ratio, "x"),
                  ratio is not None and ratio >= GOAL_PINGPONG))
    print()

    # 2. Spawn + run to completion.
    s = ns_per_item(res.get("spawn/stasis"), "ns_per_task")
    peers = sorted((ns_per_item(r, "ns_per_task"), label) for label, r in res.items()
                   if label.startswith("spawn/boost_fiber") and ns_per_item(r, "ns_per_task") is not None)
    print("2. Spawn + run to completion of 1,000,000 trivial tasks, ns per task")
    rows = [["stasis (all spawned, then run)", fmt(s), "", "<- the goal's stasis side"]]
    sb = ns_per_item(res.get("spawn/stasis_batch1024"), "ns_per_task")
    if sb is not None:
        rows.append(["stasis_batch1024 (context: cache-resident)", fmt(sb), "", ""])
    for ns, label in peers:
        rows.append([label[len("spawn/"):], fmt(ns), fmt(ns / s if s else None, "x"),
                     "<- fastest peer" if (ns, label) == peers[0] else ""])
    for label, r in res.items():
        if label.startswith("spawn/") and "error" in r:
            rows.append([label[len("spawn/"):], "error: " + r["error"], "", ""])
    table(rows, ["side", "ns/task", "peer/stasis", ""])
    best = peers[0] if peers else (None, None)
    ratio = best[0] / s if s and best[0] else None
    goals.append(("spawn+run >= %gx faster than Boost.Fiber (fastest peer: %s)" % (GOAL_SPAWN, (best[1] or "none")[len("spawn/boost_fiber/"):]),
                  fmt(ratio, "x"), ratio is not None and ratio >= GOAL_SPAWN))
    # The same goal against Boost.Fiber used as documented: fiber(fn) + join with
    # the default stack allocator (fixedsize_stack, 128 KiB).
    d = ns_per_item(res.get("spawn/boost_fiber/default_stack_128k/post_join_batch1024"), "ns_per_task")
    dratio = d / s if s and d else None
    goals.append(("spawn+run >= %gx faster than Boost.Fiber default usage (fiber + join, default stack)" % GOAL_SPAWN,
                  fmt(dratio, "x"), dratio is not None and dratio >= GOAL_SPAWN))
    print()

    # 3. Memory per parked tasklet.
    m = res.get("memory/stasis") or {}
    print("3. Memory per parked tasklet (blocked receiving on a channel), bytes each")
    rows = []
    if "error" in m:
        rows.append(["stasis", "error: " + m["error"], "", "", "", ""])
    elif m:
        rows.append(["stasis soft tasklet", fmt(m.get("requested_bytes")), fmt(m.get("overhead_bytes")),
                     fmt(m.get("malloc_bytes")), fmt(m.get("rss_bytes")), fmt(m.get("allocs"))])
    for label, r in sorted(res.items()):
        if label.startswith("memory/boost_fiber"):
            if "error" in r:
                rows.append([label[len("memory/"):], "error: " + r["error"], "", "", "", ""])
                continue
            rows.append([label[len("memory/"):], fmt(r.get("requested_bytes")), fmt(r.get("overhead_bytes")),
                         fmt(r.get("malloc_bytes")), fmt(r.get("rss_bytes")), fmt(r.get("allocs"))])
    table(rows, ["side", "requested", "w/o fields", "malloc heap", "RSS", "allocs"])
    if m and "error" not in m:
        print("   stasis: frame fields %s B excluded; sizeof(FrameBase) + sizeof(Tasklet) = %s B"
              % (fmt(m.get("field_bytes")), fmt(m.get("sizeof_header"))))
        for label, r in sorted(res.items()):
            if label.startswith("memory/boost_fiber") and "error" not in r and m.get("rss_bytes"):
                print("   %s: %s x the stasis RSS per parked task" %
                      (label[len("memory/"):], fmt(r.get("rss_bytes", 0) / m["rss_bytes"])))
    over = m.get("overhead_bytes") if "error" not in m else None
    goals.append(("memory per parked soft tasklet <= %g bytes (requested, frame fields excluded)" % GOAL_MEMORY,
                  fmt(over, " B"), over is not None and over <= GOAL_MEMORY))
    print()

    # 4. Freeze and thaw of N parked tasklets vs a bare Boost archive of the same fields.
    n = tasklets_of(doc)
    print("4. Freeze and thaw of %s parked soft tasklets (whole scheduler), per tasklet" % fmt_count(n))
    rows = []
    ratios = {}
    for op in ("freeze", "thaw"):
        base = res.get("%s/boost_archive" % op)
        b = ns_per_item(base, "ns_per_tasklet")
        for side in ("stasis/none", "stasis/zstd", "boost_archive"):
            label = "%s/%s" % (op, side)
            r = res.get(label)
            if r is not None and "error" in r:
                rows.append([label, "error: " + r["error"], "", "", "", ""])
                continue
            ns = ns_per_item(r, "ns_per_tasklet")
            ratio = ns / b if ns is not None and b and side != "boost_archive" else None
            ratios[label] = ratio
            rows.append([label, fmt(ns), fmt((r or {}).get("bytes_per_tasklet")),
                         fmt((r or {}).get("message_bytes_per_tasklet")),
                         fmt((r or {}).get("archive_bytes_per_tasklet", (r or {}).get("bytes_per_tasklet"))),
                         fmt(ratio, "x")])
    table(rows, ["benchmark", "ns/tasklet", "file B/tasklet", "message B", "archive B", "stasis/baseline"])
    fb = res.get("freeze/boost_archive") or {}
    if "zstd_bytes_per_tasklet" in fb:
        print("   baseline archive compressed with zstd level 3 (untimed, for comparison): %s B/tasklet"
              % fmt(fb["zstd_bytes_per_tasklet"]))
    print("   baseline = boost::archive::binary_oarchive / binary_iarchive of the same frame fields "
          "(channel as a uint32 index); times are CPU time of the benchmark thread")
    for op in ("freeze", "thaw"):
        r = ratios.get("%s/stasis/none" % op)
        goals.append(("%s of %s parked tasklets <= %gx a bare Boost archive (no compression)"
                      % (op, fmt_count(n), GOAL_FREEZE), fmt(r, "x"), r is not None and r <= GOAL_FREEZE))
    for op in ("freeze", "thaw"):
        r = ratios.get("%s/stasis/zstd" % op)
        info.append(("%s with zstd vs the (uncompressed) Boost archive" % op, fmt(r, "x")))
    print()

    print("Goals")
    table([[g, v, verdict(ok)] for g, v, ok in goals], ["goal", "measured", "result"])
    if info:
        print()
        print("For information (no goal)")
        table([[g, v] for g, v in info], ["measure", "measured"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
