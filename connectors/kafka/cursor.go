package kafka

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// offsets is a source's position: per partition, the offset of the next
// message to read. Its text, the cursor, is "0:1200,1:1187,2:1201".
type offsets map[int32]int64

func (o offsets) String() string {
	parts := make([]int32, 0, len(o))
	for p := range o {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, o[p])
	}
	return b.String()
}

func parseOffsets(cursor string) (offsets, error) {
	o := offsets{}
	if cursor == "" {
		return o, nil
	}
	for _, part := range strings.Split(cursor, ",") {
		ps, os, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		off, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("cursor %q: %q is not partition:offset", cursor, part)
		}
		o[int32(p)] = off
	}
	return o, nil
}

func (o offsets) clone() offsets {
	c := make(offsets, len(o))
	for p, off := range o {
		c[p] = off
	}
	return c
}

func (o offsets) equal(x offsets) bool {
	if len(o) != len(x) {
		return false
	}
	for p, off := range o {
		if xo, ok := x[p]; !ok || xo != off {
			return false
		}
	}
	return true
}
