package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/crmhub/hub/mapping"
)

// chunkSize is how much input the reader hands a worker at a time: about
// 170 yardstick records, a few milliseconds of mapping, so the channel
// hand-offs cost nothing next to it. A line longer than this grows its
// chunk's buffer.
const chunkSize = 256 << 10

// chunk is a run of whole input lines and, once a worker has been at it,
// their mapped output. Chunks are recycled: their buffers keep their
// capacity from one use to the next.
type chunk struct {
	seq  int    // position in the input, from 0
	in   []byte // whole lines (the last may lack its newline at EOF)
	out  []byte // mapped records, one line each
	recs int    // lines mapped
	fail int    // lines that failed
	// firstErr is the chunk's first failure and firstAt its record
	// number within the chunk (1-based, blank lines not counted).
	firstErr string
	firstAt  int
}

// RunParallel is Run with workers goroutines mapping at once: one reader
// cuts the input into chunks of whole lines, the workers map chunks (each
// with its own Decoder; the Plan is shared, it is safe for concurrent
// use), and the caller's goroutine writes the mapped chunks in input
// order. Output, counts, FirstError and the n limit are exactly Run's.
// At most 2*workers+2 chunks are in memory at once. When ctx is done every
// goroutine stops before RunParallel returns. workers <= 1 is Run.
func RunParallel(ctx context.Context, p *mapping.Plan, in io.Reader, out io.Writer, n int, lookup mapping.Lookup, workers int) (Result, error) {
	if workers <= 1 {
		return Run(ctx, p, in, out, n, lookup)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	inflight := 2*workers + 2
	free := make(chan *chunk, inflight)
	for range inflight {
		free <- &chunk{}
	}
	// At most inflight chunks exist, so sends on work and done never
	// block; only taking a free chunk does.
	work := make(chan *chunk, inflight)
	done := make(chan *chunk, inflight)

	var (
		res  Result
		ms   runtime.MemStats
		rerr error // the reader's, read once it has gone
	)
	res.GOMAXPROCS = runtime.GOMAXPROCS(0)
	res.Workers = workers
	runtime.ReadMemStats(&ms)
	startMallocs, startBytes := ms.Mallocs, ms.TotalAlloc
	start := time.Now()

	var reader, mappers sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer close(work)
		rerr = readChunks(ctx, in, n, free, work)
	}()
	for range workers {
		mappers.Add(1)
		go func() {
			defer mappers.Done()
			mapChunks(ctx, p, lookup, work, done)
		}()
	}
	go func() {
		mappers.Wait()
		close(done)
	}()

	// The writer: put the chunks back in input order and write them. Once
	// it fails or ctx is done it only drains done, until the workers (who
	// stop when the reader does) have gone.
	var (
		pending = make(map[int]*chunk, inflight)
		next    int
		err     error
	)
	for c := range done {
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("bench: %w", ctx.Err())
		}
		if err != nil {
			continue
		}
		pending[c.seq] = c
		for c := pending[next]; c != nil; c = pending[next] {
			delete(pending, next)
			next++
			if c.fail > 0 && res.Failed == 0 {
				res.FirstError = fmt.Sprintf("record %d: %s", res.Records+res.Failed+c.firstAt, c.firstErr)
			}
			res.Records += c.recs
			res.Failed += c.fail
			res.BytesIn += int64(len(c.in))
			if len(c.out) > 0 {
				if _, werr := out.Write(c.out); werr != nil {
					err = fmt.Errorf("bench: write output: %w", werr)
					cancel()
					break
				}
			}
			res.BytesOut += int64(len(c.out))
			free <- c
		}
	}
	reader.Wait()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("bench: %w", ctx.Err())
	}
	if err == nil {
		err = rerr
	}
	res.Elapsed = time.Since(start)
	runtime.ReadMemStats(&ms)
	res.Mallocs, res.AllocBytes, res.HeapInuse = ms.Mallocs-startMallocs, ms.TotalAlloc-startBytes, ms.HeapInuse
	return res, err
}

// readChunks cuts in into chunks of whole lines, at most n non-blank
// lines in all (n <= 0: all), and sends them to work in order.
func readChunks(ctx context.Context, in io.Reader, n int, free <-chan *chunk, work chan<- *chunk) error {
	var carry []byte // the start of a line cut off by the previous read
	left := n
	for seq := 0; ; seq++ {
		if ctx.Err() != nil {
			return nil // the caller reports ctx's error
		}
		var c *chunk
		select {
		case c = <-free:
		case <-ctx.Done():
			return nil // the caller reports ctx's error
		}
		if cap(c.in) < chunkSize {
			c.in = make([]byte, 0, chunkSize)
		}
		buf := append(c.in[:0], carry...)
		cut := -1 // buf[:cut] is whole lines
		last := false
		var rerr error
		for {
			if len(buf) == cap(buf) {
				if cut >= 0 {
					break
				}
				buf = append(buf, 0)[:len(buf)] // a line longer than the buffer
			}
			m, err := in.Read(buf[len(buf):cap(buf)])
			if i := bytes.LastIndexByte(buf[len(buf):len(buf)+m], '\n'); i >= 0 {
				cut = len(buf) + i + 1
			}
			buf = buf[:len(buf)+m]
			if err != nil {
				if err != io.EOF {
					rerr = fmt.Errorf("bench: read input: %w", err)
				}
				cut, last = len(buf), true // the last line may lack its newline
				break
			}
		}
		carry = append(carry[:0], buf[cut:]...)
		c.in, c.seq = buf[:cut], seq
		if left > 0 {
			var k int
			c.in, k = firstLines(c.in, left)
			left -= k
			if left == 0 {
				last = true
			}
		}
		if len(c.in) == 0 && last {
			return rerr
		}
		work <- c
		if last {
			return rerr
		}
	}
}

// firstLines returns the start of data holding at most n non-blank lines
// and how many it holds.
func firstLines(data []byte, n int) ([]byte, int) {
	k := 0
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		end := len(data)
		if j >= 0 {
			end = i + j + 1
		}
		if end-i > 1 || j < 0 {
			k++
			if k == n {
				return data[:end], k
			}
		}
		i = end
	}
	return data, k
}

// mapChunks maps the chunks from work and sends them to done, until work
// is closed. A chunk taken after ctx is done is dropped.
func mapChunks(ctx context.Context, p *mapping.Plan, lookup mapping.Lookup, work <-chan *chunk, done chan<- *chunk) {
	dec := p.NewDecoder()
	for c := range work {
		if ctx.Err() != nil {
			continue
		}
		c.out, c.recs, c.fail, c.firstErr, c.firstAt = c.out[:0], 0, 0, "", 0
		data := c.in
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			if len(line) == 0 {
				continue
			}
			rec, err := dec.DecodeTransient(line)
			if err == nil {
				var o []byte
				o, err = p.AppendApply(ctx, c.out, rec, lookup)
				if err == nil {
					c.out = append(o, '\n')
				}
			}
			if err != nil {
				if c.fail == 0 {
					c.firstErr, c.firstAt = err.Error(), c.recs+c.fail+1
				}
				c.fail++
			} else {
				c.recs++
			}
		}
		done <- c
	}
}
