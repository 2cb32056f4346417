package screenpop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"
)

// A snapshot is the whole index and the topic positions it stands at, in a
// compact binary file: a magic line, the body (varints and length-prefixed
// strings, records in the index's own compact form) and a CRC-32C of the
// body. A file that is short, corrupt or of another version is refused
// whole: the caller then reads the topics from the start.

const snapshotMagic = "crmhub screenpop snapshot v1\n"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Limits that keep a corrupt file from asking for absurd allocations.
const (
	maxSnapString = 1 << 20
	maxSnapCount  = 1 << 28
)

// WriteSnapshot writes the index to w. It holds the read lock throughout,
// so the snapshot and its positions agree: changes wait, lookups do not.
func (x *Index) WriteSnapshot(w io.Writer) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("screenpop: write snapshot: %w", err)
	}
	e := &encoder{w: bw, crc: crc32.New(crcTable)}
	x.encode(e)
	if e.err == nil {
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], e.crc.Sum32())
		_, e.err = bw.Write(sum[:])
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("screenpop: write snapshot: %w", e.err)
	}
	return nil
}

func (x *Index) encode(e *encoder) {
	e.uint(uint64(len(x.pos)))
	for topic, parts := range x.pos {
		e.str(topic)
		e.uint(uint64(len(parts)))
		for p, off := range parts {
			e.int(int64(p))
			e.int(off)
		}
	}
	e.uint(uint64(len(x.syms) - 1))
	for _, w := range x.syms[1:] {
		e.str(w)
	}
	for _, n := range []int{len(x.orderAt), len(x.invoiceAt), len(x.interAt), len(x.byPhone), len(x.bySource)} {
		e.uint(uint64(n)) // sizes for the reader's maps
	}
	e.uint(uint64(len(x.byID)))
	for i := range x.custs {
		if c := &x.custs[i]; c.state != slotFree {
			encodeCustomer(e, c)
		}
	}
}

func encodeCustomer(e *encoder, c *customer) {
	e.bytes(c.id[:])
	e.uint(uint64(c.state))
	e.str(c.rec)
}

// ReadSnapshot replaces the index with the snapshot in r. On any error
// the index is left as it was.
func (x *Index) ReadSnapshot(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return errors.New("screenpop: read snapshot: not a snapshot of this version")
	}
	d := &decoder{r: br, crc: crc32.New(crcTable)}
	fresh := &Index{o: x.o, seed: x.seed}
	fresh.clear()
	fresh.decode(d)
	if d.err != nil {
		return fmt.Errorf("screenpop: read snapshot: %w", d.err)
	}
	want := d.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil || binary.BigEndian.Uint32(sum[:]) != want {
		return errors.New("screenpop: read snapshot: checksum mismatch (a damaged or partly written file)")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.custs, x.free, x.byID, x.bySource, x.srcOver, x.seed = fresh.custs, fresh.free, fresh.byID, fresh.bySource, fresh.srcOver, fresh.seed
	x.byPhone, x.shared, x.orderAt, x.invoiceAt, x.interAt = fresh.byPhone, fresh.shared, fresh.orderAt, fresh.invoiceAt, fresh.interAt
	x.syms, x.symOf, x.pos, x.known, x.dyn, x.dropped = fresh.syms, fresh.symOf, fresh.pos, fresh.known, fresh.dyn, 0
	return nil
}

func (x *Index) decode(d *decoder) {
	for n := d.count(); n > 0 && d.err == nil; n-- {
		topic := d.str()
		parts := map[int]int64{}
		for m := d.count(); m > 0 && d.err == nil; m-- {
			p := d.int()
			parts[int(p)] = d.int()
		}
		x.pos[topic] = parts
	}
	nsyms := d.count()
	if nsyms >= maxSyms {
		d.fail("too many symbols")
	}
	for ; nsyms > 0 && d.err == nil; nsyms-- {
		w := d.str()
		x.symOf[w] = sym(len(x.syms))
		x.syms = append(x.syms, w)
	}
	// The maps are made at their size at once; a damaged size must not
	// ask for gigabytes before the checksum is read.
	sized := func() int { return min(d.count(), 1<<23) }
	x.orderAt, x.invoiceAt, x.interAt = make(map[hubID]uint32, sized()), make(map[hubID]uint32, sized()), make(map[hubID]uint32, sized())
	x.byPhone, x.bySource = make(map[uint64]uint32, sized()), make(map[uint64]uint32, sized())
	n := d.count()
	if d.err != nil {
		return
	}
	x.byID = make(map[hubID]uint32, min(n, 1<<23))
	x.custs = make([]customer, 0, min(n, 1<<23))
	var r record
	for ; n > 0 && d.err == nil; n-- {
		x.custs = append(x.custs, customer{})
		s := uint32(len(x.custs) - 1)
		c := &x.custs[s]
		x.decodeCustomer(d, c)
		if d.err != nil {
			return
		}
		x.reindex(s, &r, d)
	}
}

func (x *Index) decodeCustomer(d *decoder, c *customer) {
	d.read(c.id[:])
	c.state = uint8(d.uint())
	if c.state != slotKnown && c.state != slotPlaceholder {
		d.fail("bad slot state")
		return
	}
	c.rec = d.str()
}

// reindex puts a decoded customer into the maps.
func (x *Index) reindex(s uint32, r *record, d *decoder) {
	c := &x.custs[s]
	if !decodeInto(c.rec, r) {
		d.fail("a damaged customer record")
		return
	}
	for _, src := range r.sources {
		if int(src.origin) >= len(x.syms) {
			d.fail("unknown symbol")
			return
		}
	}
	c.phone, c.mobile, c.activity, c.status = r.phone, r.mobile, r.activity(), uint8(statusRank(r.text[fStatus]))
	x.dyn += int64(len(c.rec))
	x.byID[c.id] = s
	if c.state == slotKnown {
		x.known++
	}
	for _, k := range r.numbers(nil) {
		x.indexPhone(k, s)
	}
	for _, src := range r.sources {
		x.indexSource(src, s)
	}
	for _, o := range r.orders {
		x.orderAt[o.id] = s
	}
	for _, in := range r.invoices {
		x.invoiceAt[in.id] = s
	}
	for _, it := range r.inters {
		x.interAt[it.id] = s
	}
}

// SaveFile writes a snapshot to path atomically: to a temporary file in
// the same folder, synced, then renamed over path. It returns the
// snapshot's size.
func (x *Index) SaveFile(path string) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("screenpop: snapshot folder: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("screenpop: create snapshot: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := x.WriteSnapshot(f); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("screenpop: sync snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("screenpop: snapshot size: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("screenpop: close snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return 0, fmt.Errorf("screenpop: put snapshot in place: %w", err)
	}
	return st.Size(), nil
}

// LoadFile reads the snapshot at path. A missing file is no error: found
// is false and the index is left empty.
func (x *Index) LoadFile(path string) (found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("screenpop: open snapshot: %w", err)
	}
	defer f.Close()
	if err := x.ReadSnapshot(f); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// encoder writes varints and strings, remembering the first error.
type encoder struct {
	w   io.Writer
	crc hash.Hash32
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	e.crc.Write(b)
	_, e.err = e.w.Write(b)
}

func (e *encoder) uint(v uint64) { e.bytes(e.buf[:binary.PutUvarint(e.buf[:], v)]) }
func (e *encoder) int(v int64)   { e.bytes(e.buf[:binary.PutVarint(e.buf[:], v)]) }

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	if e.err == nil && len(s) > 0 {
		e.crc.Write([]byte(s))
		_, e.err = io.WriteString(e.w, s)
	}
}

// decoder reads what encoder wrote, remembering the first error.
type decoder struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *decoder) read(b []byte) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = fmt.Errorf("truncated: %w", err)
		return
	}
	d.crc.Write(b)
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		b, err := d.r.ReadByte()
		if err != nil {
			d.err = fmt.Errorf("truncated: %w", err)
			return 0
		}
		buf[i] = b
		if b < 0x80 {
			d.crc.Write(buf[:i+1])
			v, n := binary.Uvarint(buf[:i+1])
			if n <= 0 {
				d.fail("bad varint")
			}
			return v
		}
	}
	d.fail("bad varint")
	return 0
}

func (d *decoder) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a length, bounded.
func (d *decoder) count() int {
	n := d.uint()
	if n > maxSnapCount {
		d.fail("count out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uint()
	if n > maxSnapString {
		d.fail("string too long")
	}
	if d.err != nil || n == 0 {
		return ""
	}
	b := make([]byte, n)
	d.read(b)
	return unsafe.String(&b[0], len(b)) // b is this string's alone and never written again
}
