// Command pingpong is the Go peer of stasis_bench's pingpong/* benchmarks: two
// goroutines bounce an int over two unbuffered channels, GOMAXPROCS=1.
//
// One round trip = ping sends i on `ping`, pong receives it and sends i+1 on
// `pong`, ping receives it (the same protocol as pingpong_bench.cc and
// native_pingpong_bench.cc). Each repetition spawns the two goroutines, runs -n
// round trips and waits for both, like one Google Benchmark iteration there.
// The sum ping receives is checked; a wrong sum exits with status 1.
//
// It prints one JSON object: ns_per_roundtrip is the process CPU time
// (getrusage RUSAGE_SELF, user + system; with GOMAXPROCS=1 the goroutines run on
// one thread at a time, and the Stasis side is timed with its thread's CPU time)
// of the best repetition, wall_ns_per_roundtrip the wall time of the best one.
//
// Built and run by tests/bench/ratios.py (go build, GO111MODULE=off).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// roundTrips runs n round trips and returns the sum ping received.
func roundTrips(n int64) int64 {
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan int64)
	go func() { // ping
		var sum int64
		for i := int64(0); i < n; i++ {
			ping <- int(i)
			sum += int64(<-pong)
		}
		done <- sum
	}()
	go func() { // pong
		for i := int64(0); i < n; i++ {
			pong <- (<-ping) + 1
		}
		done <- 0
	}()
	a, b := <-done, <-done
	return a + b
}

func main() {
	n := flag.Int64("n", 1000000, "round trips per repetition")
	reps := flag.Int("reps", 1, "repetitions; the best is reported")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	want := *n*(*n-1)/2 + *n
	bestCPU, bestWall := time.Duration(1<<62), time.Duration(1<<62)
	for r := 0; r < *reps; r++ {
		c0, w0 := cpuNow(), time.Now()
		got := roundTrips(*n)
		cpu, wall := cpuNow()-c0, time.Since(w0)
		if got != want {
			fmt.Fprintf(os.Stderr, "pingpong: wrong sum %d, want %d\n", got, want)
			os.Exit(1)
		}
		if cpu < bestCPU {
			bestCPU = cpu
		}
		if wall < bestWall {
			bestWall = wall
		}
	}
	out := map[string]interface{}{
		"name":                  "pingpong/go",
		"ns_per_roundtrip":      float64(bestCPU.Nanoseconds()) / float64(*n),
		"wall_ns_per_roundtrip": float64(bestWall.Nanoseconds()) / float64(*n),
		"roundtrips":            *n,
		"repetitions":           *reps,
		"gomaxprocs":            runtime.GOMAXPROCS(0),
		"go_version":            runtime.Version(),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
