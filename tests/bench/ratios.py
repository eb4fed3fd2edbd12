#!/usr/bin/env python3
"""Runs stasis_bench and its out-of-process peers, and prints each Stasis/peer
pair, the ratio and the performance goals with PASS/MISS. A report: it exits 0
whether goals pass or not (non-zero only when the benchmark cannot be run or
read; a peer that cannot be built or run shows as an error in its section).

  python3 tests/bench/ratios.py [path/to/stasis_bench] [--repetitions N]
                                [--freeze-tasklets N] [--python PYTHON]
                                [--json results.json] [--save results.json]

Without a path it looks for build/tests/bench/stasis_bench in the current
directory, then in the repository root. With --repetitions N every timed
benchmark runs N times (interleaved) and the best time per item is kept, which
filters out noise from other processes. Memory benchmarks run once, first, in
their own process (their RSS counter needs a fresh heap). Freeze/thaw benchmarks
run last, in a process of their own (N parked tasklets, default 1,000,000, set
with --freeze-tasklets; 100000 makes a quick run).

Out-of-process peers (PEERS below) run in the same report: Go programs under
tests/bench/peers/go/<name> are built with `go build` (GOPATH mode, caches under
<bench dir>/peers/go, nothing written to $HOME) and run with GOMAXPROCS=1; the
greenlet script runs under the first Python that can import greenlet
(--python, this interpreter, /usr/bin/python3). Memory peers run once after the
memory benchmarks; timed peers run N rounds (one per repetition) right after
the timed benchmarks, and the best round is kept. Their results are kept in
the saved JSON under "peers".

To add a comparison: add its Stasis benchmarks to stasis_bench (their name
prefix to TIMED_PREFIXES or MEMORY_PREFIXES), its out-of-process peer, if any,
to PEERS, and a section function to SECTIONS.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

GOAL_PINGPONG = 5.0     # ping-pong at least 5x faster than Boost.Fiber
GOAL_SPAWN = 50.0       # spawn + run at least 50x faster than Boost.Fiber
GOAL_MEMORY = 128.0     # at most 128 bytes per parked soft tasklet (frame fields excluded)
GOAL_FREEZE = 1.5       # freeze and thaw each within 1.5x of a bare Boost archive of the same fields
GOAL_NATIVE_SWITCH = 1.5    # dedicated-stack switch round trip at most 1.5x a raw Boost.Context fiber
GOAL_SLICED_SWITCH = 5.0    # sliced switch round trip at least 5x faster than greenlet, same live stack
GOAL_NATIVE_PINGPONG = 3.0  # native channel ping-pong at least 3x faster than Boost.Fiber and Go
GOAL_NATIVE_MEMORY = 5.0    # a parked sliced native tasklet at least 5x less memory than a parked goroutine

SLICED_LIVE_BYTES = (256, 1024, 8192)  # live stack sizes of switch/stasis_sliced/two_tasklets/live_<X>B

DEFAULT_BINARY = os.path.join("build", "tests", "bench", "stasis_bench")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))

# Benchmark name prefixes per phase of the stasis_bench run.
MEMORY_PREFIXES = ("memory",)
TIMED_PREFIXES = ("pingpong", "spawn", "switch", "native_persist")
PERSIST_PREFIXES = ("freeze", "thaw")

# Out-of-process peers. kind "go": a package main under peers/go/<dir>, built
# with go build; kind "python": a script under peers/ run by a Python that can
# import `needs`. phase "memory": run once; "timed": one run per repetition, the
# best kept (keys starting with ns_per_, also inside "points", are minimized).
PEERS = [
    {"name": "go_memory", "kind": "go", "dir": "memory", "phase": "memory", "args": ["-n", "100000"]},
    {"name": "go_pingpong", "kind": "go", "dir": "pingpong", "phase": "timed",
     "args": ["-n", "200000", "-reps", "3"]},
    {"name": "greenlet_switch", "kind": "python", "script": "greenlet_switch.py", "needs": "greenlet",
     "phase": "timed", "args": ["--targets", ",".join(str(x) for x in SLICED_LIVE_BYTES), "-n", "100000"]},
]


def find_binary(path):
    if path:
        return path
    repo_root = os.path.normpath(os.path.join(BENCH_DIR, "..", ".."))
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


# --- Out-of-process peers. ---

class PeerError(Exception):
    pass


def run_json_command(cmd, env=None, cwd=None):
    """Runs cmd, returns its stdout parsed as JSON; PeerError on any failure."""
    print("running: %s%s" % ("".join("%s=%s " % kv for kv in sorted((env or {}).items())
                                     if kv[0] in ("GOMAXPROCS",)), " ".join(cmd)),
          file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, cwd=cwd,
                              env=dict(os.environ, **env) if env else None)
    except OSError as e:
        raise PeerError("cannot run %s: %s" % (cmd[0], e))
    if proc.returncode != 0:
        raise PeerError("%s exited with status %d: %s" % (os.path.basename(cmd[0]), proc.returncode,
                                                          proc.stderr.decode(errors="replace").strip()[-300:]))
    try:
        return json.loads(proc.stdout.decode())
    except ValueError as e:
        raise PeerError("output of %s is not JSON: %s" % (cmd[0], e))


def go_env(out_dir):
    """Environment of `go build` and the Go peers: GOPATH mode, caches in the build dir."""
    return {"GO111MODULE": "off", "GOCACHE": os.path.join(out_dir, "cache"),
            "GOPATH": os.path.join(out_dir, "gopath"), "GOFLAGS": "", "CGO_ENABLED": "0",
            "GOMAXPROCS": "1"}


def find_go():
    go = shutil.which("go")
    if go:
        return go
    for candidate in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go"):
        if os.path.exists(candidate):
            return candidate
    raise PeerError("no `go` found (Debian: golang-go)")


def python_with(module, preferred):
    """The first Python interpreter that can import `module`."""
    candidates = [preferred] if preferred else []
    candidates += [sys.executable, "/usr/bin/python3", shutil.which("python3")]
    for py in candidates:
        if py and os.path.exists(py) and subprocess.run([py, "-c", "import " + module], stdout=subprocess.DEVNULL,
                                                         stderr=subprocess.DEVNULL).returncode == 0:
            return py
    raise PeerError("no Python that can import %s (Debian: python3-%s)" % (module, module))


class PeerRunner:
    """Builds (once) and runs the out-of-process peers; results by peer name."""

    def __init__(self, binary, python):
        self.out_dir = os.path.join(os.path.dirname(os.path.abspath(binary)), "peers")
        self.python = python
        self.commands = {}   # name -> (cmd, env) or PeerError
        self.results = {}    # name -> result dict ({"error": ...} on failure)

    def command(self, peer):
        if peer["name"] not in self.commands:
            try:
                self.commands[peer["name"]] = self.prepare(peer)
            except PeerError as e:
                self.commands[peer["name"]] = e
        c = self.commands[peer["name"]]
        if isinstance(c, PeerError):
            raise c
        return c

    def prepare(self, peer):
        if peer["kind"] == "go":
            go_out = os.path.join(self.out_dir, "go")
            env = go_env(go_out)
            exe = os.path.join(go_out, peer["dir"])
            src = os.path.join(BENCH_DIR, "peers", "go", peer["dir"])
            os.makedirs(go_out, exist_ok=True)
            cmd = [find_go(), "build", "-o", exe, "."]
            print("building: %s (in %s)" % (" ".join(cmd), src), file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, cwd=src, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, check=False)
            if proc.returncode != 0:
                raise PeerError("go build %s failed: %s" % (peer["dir"], proc.stderr.decode(errors="replace")[-300:]))
            return [exe] + peer.get("args", []), env
        if peer["kind"] == "python":
            py = python_with(peer["needs"], self.python)
            return [py, os.path.join(BENCH_DIR, "peers", peer["script"])] + peer.get("args", []), None
        raise PeerError("unknown peer kind %r" % peer["kind"])

    def run(self, phase):
        for peer in PEERS:
            if peer["phase"] != phase:
                continue
            try:
                cmd, env = self.command(peer)
                result = run_json_command(cmd, env)
            except PeerError as e:
                print("ratios.py: peer %s: %s" % (peer["name"], e), file=sys.stderr)
                self.results.setdefault(peer["name"], {"error": str(e)})
                continue
            prev = self.results.get(peer["name"])
            self.results[peer["name"]] = result if prev is None or "error" in prev else best_of(prev, result)


def best_of(a, b):
    """Merges two runs of a timed peer: the smaller ns_per_* everywhere."""
    out = dict(a)
    for k, v in b.items():
        if k.startswith("ns_per_") and isinstance(v, (int, float)):
            out[k] = min(out.get(k, v), v)
    if "points" in a and "points" in b:
        out["points"] = [best_of(pa, pb) for pa, pb in zip(a["points"], b["points"])]
    return out


def run_bench(binary, repetitions, freeze_tasklets=None, python=None):
    """Memory benchmarks run first and once, in their own process, so that the RSS
    they report comes from a fresh heap; then the memory peers. The timed pairs
    then run `repetitions` times, interleaved, so that a burst of load elsewhere
    hits both sides, followed by `repetitions` rounds of the timed peers. The
    freeze/thaw benchmarks (a million parked tasklets, hundreds of MB) run last,
    in their own process, likewise repeated and interleaved."""
    peers = PeerRunner(binary, python)
    doc = run_once(binary, ["--benchmark_filter=^(%s)/" % "|".join(MEMORY_PREFIXES)])
    peers.run("memory")
    reps = []
    if repetitions > 1:
        reps = ["--benchmark_repetitions=%d" % repetitions, "--benchmark_enable_random_interleaving=true"]
    timed = ["--benchmark_filter=^(%s)/" % "|".join(TIMED_PREFIXES)] + reps
    doc["benchmarks"] = doc.get("benchmarks", []) + run_once(binary, timed).get("benchmarks", [])
    for _ in range(max(repetitions, 1)):
        peers.run("timed")
    env = {"STASIS_FREEZE_TASKLETS": str(freeze_tasklets)} if freeze_tasklets else None
    persist = run_once(binary, ["--benchmark_filter=^(%s)/" % "|".join(PERSIST_PREFIXES)] + reps, env)
    doc["benchmarks"] += persist.get("benchmarks", [])
    doc["peers"] = peers.results
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


def section_pingpong(num, res, doc, goals, info):
    """Channel ping-pong round trip."""
    s = ns_per_item(res.get("pingpong/stasis"), "ns_per_roundtrip")
    p = ns_per_item(res.get("pingpong/boost_fiber"), "ns_per_roundtrip")
    ratio = p / s if s and p else None
    print("%d. Channel ping-pong, ns per round trip (two unbuffered channels, one thread)" % num)
    table([["stasis soft tasklets", fmt(s), ""],
           ["boost.fiber unbuffered_channel", fmt(p), fmt(ratio, "x")]],
          ["side", "ns/round trip", "peer/stasis"])
    goals.append(("ping-pong >= %gx faster than Boost.Fiber" % GOAL_PINGPONG, fmt(ratio, "x"),
                  ratio is not None and ratio >= GOAL_PINGPONG))


def section_spawn(num, res, doc, goals, info):
    """Spawn + run to completion."""
    s = ns_per_item(res.get("spawn/stasis"), "ns_per_task")
    peers = sorted((ns_per_item(r, "ns_per_task"), label) for label, r in res.items()
                   if label.startswith("spawn/boost_fiber") and ns_per_item(r, "ns_per_task") is not None)
    print("%d. Spawn + run to completion of 1,000,000 trivial tasks, ns per task" % num)
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


def section_memory(num, res, doc, goals, info):
    """Memory per parked tasklet."""
    m = res.get("memory/stasis") or {}
    print("%d. Memory per parked tasklet (blocked receiving on a channel), bytes each" % num)
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


def section_freeze(num, res, doc, goals, info):
    """Freeze and thaw of N parked tasklets vs a bare Boost archive of the same fields."""
    n = tasklets_of(doc)
    print("%d. Freeze and thaw of %s parked soft tasklets (whole scheduler), per tasklet" % (num, fmt_count(n)))
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


def section_native_persist(num, res, doc, goals, info):
    """Freeze+write and read+restore of parked native tasklets vs memcpy+write of the stack bytes."""
    print("%d. Native persistence: parked native tasklets with ~4 KiB live stacks, stack MB/s" % num)
    rows = []
    for op, what in (("freeze_write", "freeze + write"), ("read_thaw", "read + restore")):
        base = (res.get("native_persist/%s/memcpy" % op) or {}).get("MB_per_s")
        mine = (res.get("native_persist/%s/stasis" % op) or {}).get("MB_per_s")
        share = mine / base if mine and base else None
        for side in ("stasis", "memcpy"):
            r = res.get("native_persist/%s/%s" % (op, side)) or {}
            rows.append(["%s/%s" % (op, side), fmt(r.get("MB_per_s")), fmt(r.get("stack_bytes_per_tasklet")),
                         fmt(r.get("bytes_per_tasklet")), fmt(share, "x") if side == "stasis" else ""])
        goals.append(("native %s throughput >= 50%% of memcpy + write of the same bytes" % what
                      if op == "freeze_write" else
                      "native %s throughput >= 50%% of read + memcpy of the same bytes" % what,
                      fmt(share, "x"), share is not None and share >= 0.5))
    table(rows, ["benchmark", "stack MB/s", "stack B/tasklet", "file B/tasklet", "stasis/baseline"])
    print("   baseline = memcpy of every live stack into one buffer + write() (read() + memcpy into one "
          "buffer per stack for restore); no fsync on either side")


def peer_result(doc, name):
    """The result of out-of-process peer `name` (a dict, {"error": ...} if it failed), or None."""
    return (doc.get("peers") or {}).get(name)


def ratio_of(a, b):
    return a / b if a is not None and b else None


def section_native_switch(num, res, doc, goals, info):
    """Native switch round trip on dedicated stacks vs a raw Boost.Context fiber."""
    raw = ns_per_item(res.get("switch/boost_context_fiber"), "ns_per_roundtrip")
    print("%d. Native switch round trip (A -> B -> A), dedicated stacks vs a raw Boost.Context fiber, ns" % num)
    rows = []
    r = res.get("switch/boost_context_fiber")
    rows.append(["boost::context::fiber, main <-> fiber (raw)",
                 "error: " + r["error"] if r is not None and "error" in r else fmt(raw), "", "<- peer"])
    hub_r = res.get("switch/boost_context_fiber_via_main")
    hub = ns_per_item(hub_r, "ns_per_roundtrip")
    if hub_r is not None:
        rows.append(["boost::context fibers A, B resumed in turn by main (4 jumps)",
                     "error: " + hub_r["error"] if "error" in hub_r else fmt(hub), fmt(ratio_of(hub, raw), "x"),
                     "context"])
    ratios = {}
    for label, what, note in (
            ("switch/stasis_dedicated/two_tasklets", "stasis: two dedicated tasklets, yield()", "<- the goal's stasis side"),
            ("switch/stasis_dedicated/switch_to", "stasis: two dedicated tasklets, switch_to() (targeted)", ""),
            ("switch/stasis_dedicated/one_tasklet", "stasis: one dedicated tasklet, yield() through the loop", ""),
            ("switch/stasis_dedicated/yield_alone", "stasis: one dedicated tasklet, yield() under run()",
             "context: may not switch")):
        r = res.get(label)
        if r is not None and "error" in r:
            rows.append([what, "error: " + r["error"], "", ""])
            continue
        ns = ns_per_item(r, "ns_per_roundtrip")
        ratios[label] = ratio_of(ns, raw)
        rows.append([what, fmt(ns), fmt(ratios[label], "x"), note])
    table(rows, ["side", "ns/round trip", "stasis/raw", ""])
    one = res.get("switch/stasis_dedicated/one_tasklet") or {}
    if "switches_per_roundtrip" in one:
        print("   one tasklet through the loop (run_until with a done() that is always false, so the loop takes"
              " every yield):\n   %s switch-hook calls per yield (1: every yield reached the loop)"
              % fmt(one["switches_per_roundtrip"]))
    r = ratios.get("switch/stasis_dedicated/two_tasklets")
    goals.append(("dedicated switch round trip <= %gx a raw Boost.Context fiber (two tasklets, yield)"
                  % GOAL_NATIVE_SWITCH, fmt(r, "x"), r is not None and r <= GOAL_NATIVE_SWITCH))
    info.append(("dedicated switch round trip, one tasklet through the loop, vs raw fiber",
                 fmt(ratios.get("switch/stasis_dedicated/one_tasklet"), "x")))
    two = ns_per_item(res.get("switch/stasis_dedicated/two_tasklets"), "ns_per_roundtrip")
    info.append(("dedicated switch round trip, two tasklets, vs raw fibers via main (4 jumps)",
                 fmt(ratio_of(two, hub), "x")))
    info.append(("dedicated switch round trip, two tasklets, switch_to() (targeted, as a fiber resume) vs raw fiber",
                 fmt(ratios.get("switch/stasis_dedicated/switch_to"), "x")))


def section_sliced_switch(num, res, doc, goals, info):
    """Sliced switch round trip with X bytes of live stack vs greenlet."""
    g = peer_result(doc, "greenlet_switch") or {"error": "not run"}
    points = {p.get("target_bytes"): p for p in g.get("points", [])}
    print("%d. Sliced switch round trip (A -> B -> A) with live stack vs greenlet%s, ns"
          % (num, " (CPython %s, greenlet %s)" % (g.get("python"), g.get("greenlet")) if "python" in g else ""))
    rows = []
    ratios = {}
    targeted = {}  # greenlet / stasis switch_to()
    for x in SLICED_LIVE_BYTES:
        label = "switch/stasis_sliced/two_tasklets/live_%dB" % x
        r = res.get(label)
        p = points.get(x) or {}
        if r is not None and "error" in r:
            rows.append(["%d B" % x, "error: " + r["error"], "", "", "", "", "", "", ""])
            continue
        ns = ns_per_item(r, "ns_per_roundtrip")
        to_r = res.get("switch/stasis_sliced/switch_to/live_%dB" % x)
        to_ns = None if to_r is None or "error" in to_r else ns_per_item(to_r, "ns_per_roundtrip")
        gns = p.get("ns_per_roundtrip")
        ratios[x] = ratio_of(gns, ns)
        targeted[x] = ratio_of(gns, to_ns)
        rows.append(["%d B" % x, fmt(ns), fmt((r or {}).get("live_stack_bytes")), fmt(to_ns), fmt(gns),
                     fmt(p.get("saved_bytes")), str(p.get("levels", "")), fmt(ratios[x], "x"),
                     fmt(targeted[x], "x")])
    table(rows, ["live buffer", "stasis yield ns", "stasis live B (>=)", "stasis switch_to ns", "greenlet ns",
                 "greenlet saved B", "C levels", "greenlet/yield", "greenlet/switch_to"])
    if "error" in g:
        print("   greenlet: error: %s" % g["error"])
    one = res.get("switch/stasis_sliced/one_tasklet/live_1024B")
    if one is not None:
        print("   context: one sliced tasklet yielding alone with 1 KiB live (nothing to copy): %s ns"
              % ("error: " + one["error"] if "error" in one else fmt(ns_per_item(one, "ns_per_roundtrip"))))
    print("   stasis: two sliced tasklets, each with an X-byte local buffer live across yield() (or across")
    print("   switch_to(), the targeted switch greenlet's switch() also is); 'live B' = region")
    print("   top - buffer (a lower bound of its slice). greenlet: two greenlets started at the same depth, so")
    print("   every switch copies; 'saved B' = greenlet._stack_saved, at least X (CPython's own C frames are")
    print("   ~1.3 KiB, more added by 'C levels' of interpreter recursion); its time includes the Python loop")
    for x in SLICED_LIVE_BYTES:
        r = ratios.get(x)
        goals.append(("sliced switch, %d B live, >= %gx faster than greenlet" % (x, GOAL_SLICED_SWITCH),
                      fmt(r, "x"), r is not None and r >= GOAL_SLICED_SWITCH))
    for x in SLICED_LIVE_BYTES:
        info.append(("sliced switch_to() (targeted), %d B live, greenlet/stasis" % x, fmt(targeted.get(x), "x")))


def section_native_pingpong(num, res, doc, goals, info):
    """Channel ping-pong between native tasklets vs Boost.Fiber and Go."""
    bf_r = res.get("pingpong/boost_fiber")
    bf = ns_per_item(bf_r, "ns_per_roundtrip")
    go_r = peer_result(doc, "go_pingpong") or {"error": "not run"}
    go = go_r.get("ns_per_roundtrip")
    print("%d. Native channel ping-pong, ns per round trip (two unbuffered channels, one thread)" % num)
    rows = []
    ratios = {}
    for kind, what in (("dedicated", "stasis native, dedicated stacks"), ("sliced", "stasis native, sliced"),
                       ("mixed", "stasis native, ping dedicated + pong sliced")):
        r = res.get("pingpong/stasis_native_%s" % kind)
        if r is not None and "error" in r:
            rows.append([what, "error: " + r["error"], "", ""])
            continue
        ns = ns_per_item(r, "ns_per_roundtrip")
        ratios[kind] = (ratio_of(bf, ns), ratio_of(go, ns))
        rows.append([what, fmt(ns), fmt(ratios[kind][0], "x"), fmt(ratios[kind][1], "x")])
    rows.append(["boost.fiber unbuffered_channel", "error: " + bf_r["error"] if bf_r and "error" in bf_r else fmt(bf),
                 "", ""])
    rows.append(["go unbuffered chan, GOMAXPROCS=1", "error: " + go_r["error"] if "error" in go_r else fmt(go), "", ""])
    table(rows, ["side", "ns/round trip", "boost.fiber/stasis", "go/stasis"])
    if "error" not in go_r:
        print("   go: %s, process CPU time; wall time %s ns per round trip" %
              (go_r.get("go_version", "?"), fmt(go_r.get("wall_ns_per_roundtrip"))))
    for kind in ("dedicated", "sliced"):
        rb, rg = ratios.get(kind, (None, None))
        goals.append(("native ping-pong (%s) >= %gx faster than Boost.Fiber" % (kind, GOAL_NATIVE_PINGPONG),
                      fmt(rb, "x"), rb is not None and rb >= GOAL_NATIVE_PINGPONG))
        goals.append(("native ping-pong (%s) >= %gx faster than Go" % (kind, GOAL_NATIVE_PINGPONG),
                      fmt(rg, "x"), rg is not None and rg >= GOAL_NATIVE_PINGPONG))


def section_native_memory(num, res, doc, goals, info):
    """Memory per parked native tasklet vs a parked goroutine and a Boost.Fiber fiber."""
    s = res.get("memory/stasis_native_sliced") or {"error": "not run"}
    d = res.get("memory/stasis_native_dedicated")
    go = peer_result(doc, "go_memory") or {"error": "not run"}
    print("%d. Memory per parked native tasklet (blocked in ch.receive()) vs goroutine and fiber, bytes each" % num)
    rows = []
    if "error" in s:
        rows.append(["stasis native sliced", "error: " + s["error"], "", "", ""])
    else:
        rows.append(["stasis native sliced", fmt(s.get("requested_bytes")), fmt(s.get("allocs")),
                     fmt(s.get("malloc_bytes")), fmt(s.get("rss_bytes"))])
    if d is not None:
        if "error" in d:
            rows.append(["stasis native dedicated", "error: " + d["error"], "", "", ""])
        else:
            rows.append(["stasis native dedicated (+%s stack reserved)" % fmt(d.get("stack_reserved_bytes")),
                         fmt(d.get("requested_bytes")), fmt(d.get("allocs")), fmt(d.get("malloc_bytes")),
                         fmt(d.get("rss_bytes"))])
    for label, r in sorted(res.items()):
        if label.startswith("memory/boost_fiber"):
            if "error" in r:
                rows.append([label[len("memory/"):], "error: " + r["error"], "", "", ""])
            else:
                rows.append([label[len("memory/"):] + " (stack counted)", fmt(r.get("requested_bytes")),
                             fmt(r.get("allocs")), fmt(r.get("malloc_bytes")), fmt(r.get("rss_bytes"))])
    if "error" in go:
        rows.append(["go goroutine", "error: " + go["error"], "", "", ""])
    else:
        rows.append(["go goroutine (heap = StackInuse+HeapInuse)", "", "", fmt(go.get("stack_heap_inuse_bytes")),
                     fmt(go.get("rss_bytes"))])
    table(rows, ["side", "requested", "allocs", "heap in use", "RSS"])
    if "error" not in go:
        print("   go %s, %s goroutines: stack %s + heap %s B in use; Sys growth %s B" %
              (go.get("go_version", "?"), fmt_count(go.get("goroutines")), fmt(go.get("stack_inuse_bytes")),
               fmt(go.get("heap_inuse_bytes")), fmt(go.get("sys_bytes"))))
    print("   stasis: requested = bytes asked of malloc (tasklet, native frame, callable, stack slice);")
    print("   heap in use = glibc malloc growth (requested + chunk headers and rounding)")
    heap = s.get("malloc_bytes") if "error" not in s else None
    goheap = go.get("stack_heap_inuse_bytes") if "error" not in go else None
    r = ratio_of(goheap, heap)
    goals.append(("parked sliced native tasklet >= %gx less memory than a goroutine (heap in use)"
                  % GOAL_NATIVE_MEMORY, fmt(r, "x"), r is not None and r >= GOAL_NATIVE_MEMORY))
    info.append(("goroutine / sliced native tasklet, requested bytes",
                 fmt(ratio_of(goheap, s.get("requested_bytes") if "error" not in s else None), "x")))
    info.append(("goroutine / sliced native tasklet, RSS growth",
                 fmt(ratio_of(go.get("rss_bytes") if "error" not in go else None,
                              s.get("rss_bytes") if "error" not in s else None), "x")))
    for label, r in sorted(res.items()):
        if label.startswith("memory/boost_fiber") and "error" not in r and "error" not in s:
            info.append(("%s / sliced native tasklet, RSS growth" % label[len("memory/"):],
                         fmt(ratio_of(r.get("rss_bytes"), s.get("rss_bytes")), "x")))


# The report's sections, in order; each prints a table and appends to goals and info.
SECTIONS = [
    section_pingpong,
    section_spawn,
    section_memory,
    section_freeze,
    section_native_persist,
    section_native_switch,
    section_sliced_switch,
    section_native_pingpong,
    section_native_memory,
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?", help="path to stasis_bench (default %s)" % DEFAULT_BINARY)
    ap.add_argument("--repetitions", type=int, default=1, help="runs per benchmark; the best is kept")
    ap.add_argument("--freeze-tasklets", type=int, help="parked tasklets in the freeze/thaw benchmarks "
                    "(default: the benchmark's, 1000000)")
    ap.add_argument("--python", help="Python interpreter for the greenlet peer (default: the first that has greenlet)")
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
        doc = run_bench(find_binary(args.binary), args.repetitions, args.freeze_tasklets, args.python)
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
    for num, section in enumerate(SECTIONS, 1):
        section(num, res, doc, goals, info)
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
