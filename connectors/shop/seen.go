package shop

import (
	"container/list"
	"sync"
)

// Seen is a bounded set of the delivery ids taken last, least recently
// taken forgotten first. It only saves work: a delivery it has forgotten
// (after a restart, or long after) goes through the pipeline, which takes
// it as unchanged (the same content) or older (a late retry) and publishes
// nothing, durably, from the state store. Safe for concurrent use.
type Seen struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	ids map[string]*list.Element
}

// NewSeen keeps at most size ids (at least 1).
func NewSeen(size int) *Seen {
	return &Seen{max: max(1, size), ll: list.New(), ids: map[string]*list.Element{}}
}

// Has reports whether id was taken lately.
func (s *Seen) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ids[id]
	if ok {
		s.ll.MoveToFront(e)
	}
	return ok
}

// Add records id as taken.
func (s *Seen) Add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.ids[id]; ok {
		s.ll.MoveToFront(e)
		return
	}
	s.ids[id] = s.ll.PushFront(id)
	for s.ll.Len() > s.max {
		last := s.ll.Back()
		s.ll.Remove(last)
		delete(s.ids, last.Value.(string))
	}
}

// Len is how many ids it holds.
func (s *Seen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ll.Len()
}
