package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointsInTheBackground: what is written reaches the database
// file while the store is open, far below the log size at which a writer
// would checkpoint on its own: the background checkpoints copy it.
func TestCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	time.Sleep(3 * checkpointEvery) // the migrations' pages copied
	before := size()
	links := map[string]string{}
	for i := range 5000 {
		links[fmt.Sprintf("SO-%05d", i)] = fmt.Sprintf("hub-%05d-%s", i, "0123456789abcdef0123456789abcdef")
	}
	if _, err := s.LinkMany(ctx, "order", "crm", links); err != nil {
		t.Fatal(err)
	}
	wal, err := os.Stat(path + "-wal")
	if err != nil || wal.Size() >= walAutoCheckpoint*4096 {
		t.Fatalf("log %v (%v): want it under the safety net's size", wal, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+256*1024 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes, %d before 5,000 links: nothing checkpointed in 10 s", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
