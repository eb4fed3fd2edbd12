#!/usr/bin/env python3
"""mail_throughput.py — the I/O server comparison: samples/mailserver (Stasis native
tasklets on stasis::io, one thread) against an equivalent Go server (goroutine per
connection, tests/bench/peers/go/mailserver), same machine, same run.

One load generator drives both: stasis_mail_load (tests/bench/mail_load.cc), 1,000
persistent connections running MAIL/RCPT/DATA/message transactions back to back,
each command waiting for its reply. Rounds are interleaved (the server order
alternates) so that load from other processes spreads over both sides; the best
round of each server is compared, the median is shown too.

Figures per server: commands/s (request/reply round trips completed by all
connections in the window), messages/s, and server CPU microseconds per command
(user+system time of the server process over the window, from /proc), which
is less sensitive to a busy machine than throughput. The Go server runs with its
default GOMAXPROCS (all cores) and, for a like-for-like single-thread figure, with
GOMAXPROCS=1.

    python3 tests/bench/mail_throughput.py                    # build dir: build-bench, else build
    python3 tests/bench/mail_throughput.py --build build-io --seconds 3 --rounds 3
    python3 tests/bench/mail_throughput.py --json out.json    # also save the report

Builds what it needs: the CMake targets mailserver and stasis_mail_load in the
build dir (configured with -DSTASIS_BUILD_BENCH=ON and samples on, as
`tools/dev bench` does), and the Go server with GOCACHE/GOPATH under <build>/go (GO111MODULE=off,
no dependencies). Exits 0 when every run completed without client errors.
Standard library only.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GO_SOURCE = os.path.join(ROOT, "tests", "bench", "peers", "go", "mailserver", "main.go")
TICKS = os.sysconf("SC_CLK_TCK")


def find_build(arg):
    if arg:
        return os.path.abspath(arg)
    for name in ("build-bench", "build"):
        d = os.path.join(ROOT, name)
        if os.path.exists(os.path.join(d, "CMakeCache.txt")):
            return d
    sys.exit("mail_throughput.py: no build directory found; pass --build DIR (a configured CMake build)")


def build(build_dir):
    subprocess.run(["cmake", "--build", build_dir, "--target", "mailserver", "stasis_mail_load"], check=True,
                   stdout=subprocess.DEVNULL)
    go_dir = os.path.join(build_dir, "go")
    os.makedirs(go_dir, exist_ok=True)
    env = dict(os.environ, GOCACHE=os.path.join(go_dir, "cache"), GOPATH=os.path.join(go_dir, "path"),
               GO111MODULE="off")
    go_bin = os.path.join(go_dir, "mailserver-go")
    subprocess.run(["go", "build", "-o", go_bin, GO_SOURCE], check=True, env=env)
    stasis_bin = os.path.join(build_dir, "samples", "mailserver", "mailserver")
    load_bin = os.path.join(build_dir, "tests", "bench", "stasis_mail_load")
    for b in (stasis_bin, load_bin, go_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"mail_throughput.py: {b} was not built")
    return stasis_bin, go_bin, load_bin


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def start_server(argv, env=None):
    p = subprocess.Popen(argv + ["--stats"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        p.kill()
        sys.exit(f"mail_throughput.py: {argv[0]} did not start: {line!r}")
    return p, line.split()[-1]


def one_run(name, argv, env, load_bin, args):
    server, address = start_server(argv, env)
    try:
        load = subprocess.Popen([load_bin, "--connect", address, "--connections", str(args.connections),
                                 "--seconds", str(args.seconds), "--warmup", str(args.warmup)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(args.warmup)
        c0 = cpu_seconds(server.pid)
        time.sleep(args.seconds)
        c1 = cpu_seconds(server.pid)
        out, err = load.communicate(timeout=120)
    finally:
        server.send_signal(signal.SIGTERM)
        stats = server.communicate(timeout=30)[0].strip().splitlines()
    if load.returncode != 0 or not out.strip():
        print(f"  {name}: load generator failed ({load.returncode}): {err.strip()}", file=sys.stderr)
        return None
    r = json.loads(out)
    r["server"] = name
    r["server_cpu_seconds"] = c1 - c0
    r["server_cpu_us_per_command"] = 1e6 * (c1 - c0) / r["commands"] if r["commands"] else None
    r["server_stats"] = stats[-1] if stats else ""
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="CMake build directory (default: build-bench, else build)")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the report here")
    args = ap.parse_args()

    stasis_bin, go_bin, load_bin = build(find_build(args.build))
    servers = [
        ("stasis", [stasis_bin], None),
        ("go", [go_bin], None),
        ("go_gomaxprocs1", [go_bin], dict(os.environ, GOMAXPROCS="1")),
    ]
    runs = {name: [] for name, _, _ in servers}
    ok = True
    for rnd in range(args.rounds):
        order = servers if rnd % 2 == 0 else list(reversed(servers))
        for name, argv, env in order:
            r = one_run(name, argv, env, load_bin, args)
            if r is None or r["errors"]:
                ok = False
            if r is not None:
                runs[name].append(r)
                print(f"  round {rnd + 1} {name:15s} {r['commands_per_sec']:10.0f} commands/s "
                      f"{r['messages_per_sec']:9.0f} messages/s  server cpu "
                      f"{r['server_cpu_us_per_command'] or float('nan'):6.2f} us/command  errors {r['errors']}",
                      flush=True)

    summary = {}
    for name, rs in runs.items():
        if not rs:
            continue
        best = max(rs, key=lambda r: r["commands_per_sec"])
        cpus = [r["server_cpu_us_per_command"] for r in rs if r["server_cpu_us_per_command"]]
        summary[name] = {
            "best_commands_per_sec": best["commands_per_sec"],
            "median_commands_per_sec": statistics.median(r["commands_per_sec"] for r in rs),
            "best_messages_per_sec": best["messages_per_sec"],
            "min_server_cpu_us_per_command": min(cpus) if cpus else None,
        }
    print()
    print(f"{'server':16s} {'best cmd/s':>12s} {'median cmd/s':>13s} {'msgs/s':>9s} {'cpu us/cmd':>11s}")
    for name, s in summary.items():
        cpu = s["min_server_cpu_us_per_command"]
        print(f"{name:16s} {s['best_commands_per_sec']:12.0f} {s['median_commands_per_sec']:13.0f} "
              f"{s['best_messages_per_sec']:9.0f} {cpu if cpu else float('nan'):11.2f}")
    ratios = {}
    if "stasis" in summary:
        for peer in ("go", "go_gomaxprocs1"):
            if peer in summary:
                ratios[f"throughput_stasis_over_{peer}"] = (summary["stasis"]["best_commands_per_sec"] /
                                                            summary[peer]["best_commands_per_sec"])
                a, b = summary["stasis"]["min_server_cpu_us_per_command"], summary[peer]["min_server_cpu_us_per_command"]
                if a and b:
                    ratios[f"cpu_per_command_{peer}_over_stasis"] = b / a
    print()
    for k, v in ratios.items():
        print(f"{k:40s} {v:6.2f}")
    report = {"connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
              "summary": summary, "ratios": ratios, "runs": runs}
    print(json.dumps({"summary": summary, "ratios": ratios}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
