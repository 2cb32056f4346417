package mapping

import "strings"

// need is the part of a record a plan reads, worked out at compile time,
// so the decoder can skip (while still checking the syntax of) everything
// else. A nil *need means "everything".
type need struct {
	all  bool
	keys []needKey // few keys: a slice beats a map
	// sig has bit (first byte % 64) set in sig[len % 64] for every key:
	// most members a plan does not read are turned away by one test.
	sig [64]uint64
}

type needKey struct {
	key string
	n   *need
}

func newNeed() *need { return &need{} }

func (n *need) find(key string) (*need, bool) {
	for i := range n.keys {
		if n.keys[i].key == key {
			return n.keys[i].n, true
		}
	}
	return nil, false
}

// add marks path (relative to n) as read, whole.
func (n *need) add(segs []pathSeg) *need {
	cur := n
	for _, s := range segs {
		if cur.all {
			return cur
		}
		if s.index != noIndex {
			continue // array elements share their parent's need
		}
		nx, ok := cur.find(s.key)
		if !ok {
			nx = newNeed()
			cur.keys = append(cur.keys, needKey{s.key, nx})
			cur.sig[len(s.key)%64] |= 1 << (s.key[0] % 64)
		}
		cur = nx
	}
	return cur
}

// clone is a deep copy of n, for adding to it without changing n.
func (n *need) clone() *need {
	c := &need{all: n.all, sig: n.sig, keys: make([]needKey, len(n.keys))}
	for i, k := range n.keys {
		c.keys[i] = needKey{k.key, k.n.clone()}
	}
	return c
}

// leafPaths marks each path (as the mapping language writes them: dotted,
// with indexes) as needed in full, and its text as the literal name of a
// member too (a key with dots in it).
func (n *need) leafPaths(paths []string) {
	for _, p := range paths {
		if sp, err := parsePath(p); err == nil && !sp.root {
			n.leaf(sp.segs)
		}
		if strings.Contains(p, ".") {
			n.leaf([]pathSeg{{key: p, index: noIndex}})
		}
	}
}

// leaf marks a node as needed in full (its whole value is read).
func (n *need) leaf(segs []pathSeg) {
	n.add(segs).all = true
}

// child returns the need for member key of an object, and whether the
// member is needed at all.
func (n *need) child(key string) (*need, bool) {
	if n == nil || n.all {
		return nil, true
	}
	if key == "" || n.sig[len(key)%64]&(1<<(key[0]%64)) == 0 {
		return nil, false
	}
	c, ok := n.find(key)
	if !ok {
		return nil, false
	}
	if c.all {
		return nil, true
	}
	return c, true
}
