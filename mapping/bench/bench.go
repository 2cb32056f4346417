// Package bench measures a mapping plan end to end on NDJSON: decode each
// line, apply the plan, encode the result. It streams (one line in memory
// at a time) and reports records/s, MB/s and allocations. It owns no
// data; the hub's `map bench` command and the Go benchmarks call it.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Result is one run's figures.
type Result struct {
	Records    int           // lines mapped successfully
	Failed     int           // lines that failed to decode or map
	FirstError string        // the first failure, for the report
	BytesIn    int64         // input bytes read (including newlines)
	BytesOut   int64         // output bytes written
	Elapsed    time.Duration // wall time of the loop
	Mallocs    uint64        // heap allocations during the loop
	AllocBytes uint64        // bytes allocated during the loop
	HeapInuse  uint64        // heap in use at the end
	GOMAXPROCS int
	Workers    int // goroutines mapping (1: Run)
}

// RecordsPerSec is (Records+Failed) / Elapsed.
func (r Result) RecordsPerSec() float64 {
	return float64(r.Records+r.Failed) / r.Elapsed.Seconds()
}

// MBPerSec is input megabytes (10^6) per second.
func (r Result) MBPerSec() float64 { return float64(r.BytesIn) / 1e6 / r.Elapsed.Seconds() }

// AllocsPerRecord is heap allocations per record.
func (r Result) AllocsPerRecord() float64 {
	n := r.Records + r.Failed
	if n == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(n)
}

func (r Result) String() string {
	return fmt.Sprintf("%d records (%d failed) in %v: %.0f records/s, %.1f MB/s in, %.1f allocs/record, %.0f B allocated/record, heap in use %.1f MiB, GOMAXPROCS=%d, workers=%d",
		r.Records+r.Failed, r.Failed, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec(), r.MBPerSec(),
		r.AllocsPerRecord(), float64(r.AllocBytes)/float64(max(1, r.Records+r.Failed)), float64(r.HeapInuse)/(1<<20), r.GOMAXPROCS, r.Workers)
}

// Run maps up to n lines of in (n <= 0: all) with p and writes one JSON
// line per mapped record to out (io.Discard to measure mapping alone).
// Records that fail are counted, not fatal. Lookup may be nil.
func Run(ctx context.Context, p *mapping.Plan, in io.Reader, out io.Writer, n int, lookup mapping.Lookup) (Result, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	bw := bufio.NewWriterSize(out, 1<<20)
	var (
		dec  = p.NewDecoder()
		buf  []byte
		long []byte
		res  Result
		ms   runtime.MemStats
	)
	res.GOMAXPROCS, res.Workers = runtime.GOMAXPROCS(0), 1
	runtime.ReadMemStats(&ms)
	startMallocs, startBytes := ms.Mallocs, ms.TotalAlloc
	start := time.Now()
	for n <= 0 || res.Records+res.Failed < n {
		if (res.Records+res.Failed)&1023 == 0 && ctx.Err() != nil {
			return res, fmt.Errorf("bench: %w", ctx.Err())
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		res.BytesIn += int64(len(line))
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			rec, derr := dec.DecodeTransient(line)
			if derr == nil {
				buf, derr = p.AppendApply(ctx, buf[:0], rec, lookup)
			}
			if derr != nil {
				if res.Failed == 0 {
					res.FirstError = fmt.Sprintf("record %d: %v", res.Records+res.Failed+1, derr)
				}
				res.Failed++
			} else {
				buf = append(buf, '\n')
				if _, werr := bw.Write(buf); werr != nil {
					return res, fmt.Errorf("bench: write output: %w", werr)
				}
				res.BytesOut += int64(len(buf))
				res.Records++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("bench: read input: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return res, fmt.Errorf("bench: write output: %w", err)
	}
	res.Elapsed = time.Since(start)
	runtime.ReadMemStats(&ms)
	res.Mallocs, res.AllocBytes, res.HeapInuse = ms.Mallocs-startMallocs, ms.TotalAlloc-startBytes, ms.HeapInuse
	return res, nil
}
