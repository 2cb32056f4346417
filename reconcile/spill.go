package reconcile

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/hub/mapping"
)

// entry is a row with the side it came from.
type entry struct {
	side Side
	row  Row
}

// partitions holds entries hashed into parts, in memory until they
// outgrow limit rows, then in one temporary file per part.
type partitions struct {
	dir   string
	limit int
	seed  maphash.Seed

	mem   [][]entry
	n     int
	files []*os.File
	w     []*bufio.Writer
	buf   []byte
}

func newPartitions(dir string, parts, limit int) *partitions {
	return &partitions{dir: dir, limit: limit, seed: maphash.MakeSeed(), mem: make([][]entry, parts)}
}

// add puts e into the part of hash key.
func (p *partitions) add(key string, e entry) error {
	i := int(maphash.String(p.seed, key) % uint64(len(p.mem)))
	if p.files != nil {
		return p.write(i, e)
	}
	p.mem[i] = append(p.mem[i], e)
	p.n++
	if p.n > p.limit {
		return p.spill()
	}
	return nil
}

// spill moves everything held in memory to files.
func (p *partitions) spill() error {
	p.files = make([]*os.File, len(p.mem))
	p.w = make([]*bufio.Writer, len(p.mem))
	for i := range p.mem {
		f, err := os.CreateTemp(p.dir, "reconcile-*.part")
		if err != nil {
			return fmt.Errorf("reconcile: spill to disk: %w", err)
		}
		p.files[i], p.w[i] = f, bufio.NewWriterSize(f, 64<<10)
		for _, e := range p.mem[i] {
			if err := p.write(i, e); err != nil {
				return err
			}
		}
		p.mem[i] = nil
	}
	return nil
}

func (p *partitions) write(i int, e entry) error {
	b := p.buf[:0]
	b = append(b, e.side[0])
	b = appendStr(b, e.row.Key)
	b = appendStr(b, e.row.ID)
	b = appendStr(b, e.row.HubID)
	var ver int64
	if !e.row.Version.IsZero() {
		ver = e.row.Version.UnixNano()
	}
	b = binary.AppendVarint(b, ver)
	b = binary.AppendUvarint(b, uint64(len(e.row.Refs)))
	for k, v := range e.row.Refs {
		b = appendStr(b, k)
		b = appendStr(b, v)
	}
	b = mapping.AppendJSON(b, e.row.Doc)
	p.buf = b
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := p.w[i].Write(hdr[:n]); err != nil {
		return fmt.Errorf("reconcile: spill to disk: %w", err)
	}
	if _, err := p.w[i].Write(b); err != nil {
		return fmt.Errorf("reconcile: spill to disk: %w", err)
	}
	return nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// eachParallel hands every part to handle, on up to workers goroutines,
// and what handle found to apply, one part at a time and in the parts'
// order: a run applies what a sequential one would, in the same order. At
// most workers+1 parts are held at a time; each is forgotten once
// applied. A part that cannot be read, or an error of apply, ends it.
func (p *partitions) eachParallel(ctx context.Context, workers int, handle func([]entry) *found, apply func(*found) error) error {
	n := len(p.mem)
	results := make([]chan *found, n)
	for i := range results {
		results[i] = make(chan *found, 1)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before wg.Wait: it stops the workers waiting for a slot
	slots := make(chan struct{}, workers+1)
	var next atomic.Int64
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				part, err := p.load(i)
				if err != nil {
					results[i] <- &found{err: err}
					continue
				}
				results[i] <- handle(part)
			}
		})
	}
	for i := range n {
		var f *found
		select {
		case f = <-results[i]:
		case <-ctx.Done(): // part i's worker may have stopped before it
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		if err := apply(f); err != nil {
			return err
		}
		<-slots // only now: the part is no longer held
	}
	return nil
}

// load takes part i out of the partitions: from memory, or read back
// from its file.
func (p *partitions) load(i int) ([]entry, error) {
	part := p.mem[i]
	p.mem[i] = nil
	if p.files == nil {
		return part, nil
	}
	return p.read(i)
}

func (p *partitions) read(i int) ([]entry, error) {
	if err := p.w[i].Flush(); err != nil {
		return nil, fmt.Errorf("reconcile: spill to disk: %w", err)
	}
	f := p.files[i]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reconcile: read spilled rows: %w", err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var out []entry
	var dec mapping.Decoder
	var buf []byte
	for {
		n, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reconcile: read spilled rows: %w", err)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reconcile: read spilled rows: %w", err)
		}
		e, err := decodeEntry(buf, &dec)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// decodeEntry reads one spilled entry. The entry is copied into one
// string, and its key, ids, refs and document's strings share it.
func decodeEntry(raw []byte, dec *mapping.Decoder) (entry, error) {
	bad := errors.New("reconcile: read spilled rows: corrupt record")
	if len(raw) == 0 {
		return entry{}, bad
	}
	e := entry{side: Left}
	if raw[0] == Right[0] {
		e.side = Right
	}
	all := string(raw)
	pos := 1
	str := func() (string, bool) {
		l, n := binary.Uvarint(raw[pos:])
		if n <= 0 || uint64(len(raw)-pos-n) < l {
			return "", false
		}
		pos += n + int(l)
		return all[pos-int(l) : pos], true
	}
	var ok [3]bool
	e.row.Key, ok[0] = str()
	e.row.ID, ok[1] = str()
	e.row.HubID, ok[2] = str()
	if ok != [3]bool{true, true, true} {
		return entry{}, bad
	}
	ver, n := binary.Varint(raw[pos:])
	if n <= 0 {
		return entry{}, bad
	}
	if ver != 0 {
		e.row.Version = time.Unix(0, ver).UTC()
	}
	pos += n
	nrefs, n := binary.Uvarint(raw[pos:])
	if n <= 0 || nrefs > uint64(len(raw)) {
		return entry{}, bad
	}
	pos += n
	if nrefs > 0 {
		e.row.Refs = make(map[string]string, nrefs)
	}
	for range nrefs {
		k, okK := str()
		v, okV := str()
		if !okK || !okV {
			return entry{}, bad
		}
		e.row.Refs[k] = v
	}
	v, err := dec.DecodeString(all[pos:])
	if err != nil {
		return entry{}, fmt.Errorf("reconcile: read spilled rows: %w", err)
	}
	e.row.Doc = v
	return e, nil
}

// close removes the spill files.
func (p *partitions) close() {
	for _, f := range p.files {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	p.files = nil
}
