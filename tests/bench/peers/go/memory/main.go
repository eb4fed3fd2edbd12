// Command memory is the Go peer of stasis_bench's memory/stasis_native_*
// benchmarks: the memory a goroutine blocked on a channel receive costs.
//
// It starts -n goroutines (default 100,000), GOMAXPROCS=1, each blocked in
// `<-ch` on one unbuffered channel, and reports per goroutine the growth of
// runtime.MemStats between a GC before spawning and a GC once all are parked:
//   stack_heap_inuse_bytes  StackInuse + HeapInuse (the goal's measure: memory in
//                           use by stacks and heap objects: g, sudog, closure)
//   stack_inuse_bytes, heap_inuse_bytes  the two parts
//   sys_bytes               Sys (memory obtained from the OS, reserved included)
//   rss_bytes               resident set growth (/proc/self/statm)
// Afterwards it closes the channel and checks that every goroutine's receive
// returned (all were parked on it); otherwise it exits with status 1.
//
// Built and run by tests/bench/ratios.py (go build, GO111MODULE=off).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}

func memStats() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

func main() {
	n := flag.Int("n", 100000, "parked goroutines")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	ch := make(chan int)
	var started int64
	var wg sync.WaitGroup
	wg.Add(*n)
	closed := int64(0)

	m0 := memStats()
	rss0 := rssBytes()
	for i := 0; i < *n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			if _, ok := <-ch; !ok {
				atomic.AddInt64(&closed, 1)
			}
			wg.Done()
		}()
	}
	// One P: once every goroutine has started and main runs again, each of them
	// has run up to its receive and parked there.
	for atomic.LoadInt64(&started) < int64(*n) {
		runtime.Gosched()
	}
	runtime.Gosched()
	m1 := memStats()
	rss1 := rssBytes()
	goroutines := runtime.NumGoroutine() - 1

	close(ch)
	wg.Wait()
	if atomic.LoadInt64(&closed) != int64(*n) || goroutines != *n {
		fmt.Fprintf(os.Stderr, "memory: %d goroutines alive, %d saw the close; want %d\n", goroutines, closed, *n)
		os.Exit(1)
	}

	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(*n) }
	out := map[string]interface{}{
		"name":                   "memory/go",
		"goroutines":             *n,
		"stack_heap_inuse_bytes": per(m0.StackInuse+m0.HeapInuse, m1.StackInuse+m1.HeapInuse),
		"stack_inuse_bytes":      per(m0.StackInuse, m1.StackInuse),
		"heap_inuse_bytes":       per(m0.HeapInuse, m1.HeapInuse),
		"sys_bytes":              per(m0.Sys, m1.Sys),
		"rss_bytes":              float64(rss1-rss0) / float64(*n),
		"go_version":             runtime.Version(),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
