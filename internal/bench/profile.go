package bench

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// Profiles starts what was asked of a run's measured phase: a CPU profile
// (cpuFile) and a Go execution trace (traceFile), each only when its file
// is named. The execution trace shows where goroutines wait (`go tool
// trace -pprof=sync FILE` for channels and locks, `-pprof=syscall` for
// system calls), which a CPU profile cannot: a stage that waits for another
// costs no CPU. The returned stop ends both and closes the files; it may
// be called more than once.
func Profiles(cpuFile, traceFile string) (stop func(), err error) {
	var closers []func()
	stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		closers = nil
	}
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			return stop, fmt.Errorf("bench: CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("bench: CPU profile: %w", err)
		}
		closers = append(closers, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("bench: execution trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return func() {}, fmt.Errorf("bench: execution trace: %w", err)
		}
		closers = append(closers, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}
