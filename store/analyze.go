package store

import (
	"context"
	"sync"
)

// Planner statistics for PostgreSQL. The crosswalk grows by a row per
// record and system; a lookup by hub id must use the hub id index, but a
// planner whose statistics still describe the table when it was small
// (autovacuum off, or not yet around to it after a backfill) estimates a
// handful of rows per system and scans them all through the external id
// index instead: each batch then reads every link of the system, and a
// sync slows down as it goes (seen: 0.3 s per 900 hub ids at 140,000
// links, growing). So the store counts the rows it adds to such tables and
// analyzes a table itself once it has doubled since it was last analyzed,
// in the background, one table at a time.
//
// Doubled, not grown by a tenth (autovacuum's rule): the plans only go
// wrong while the statistics describe a table many times smaller than it
// is, and an ANALYZE costs the same at any size (it samples a fixed
// number of rows: 0.22-0.31 s of the server's CPU at 210,000 links on the
// 2-core machine of docs/benchmarks.md with the default sample, 0.02 s
// with the crosswalk's own, migration 0013). At a tenth, a 200,000-order
// `hub bench sync` with the PostgreSQL state store ran 36-37 of them;
// doubling runs 8-9.

// analyzeMinRows is the growth below which a table is never analyzed.
const analyzeMinRows = 1000

type analyzer struct {
	mu      sync.Mutex
	grown   map[string]int64 // rows added since the last analyze
	size    map[string]int64 // rows at the last analyze
	running map[string]bool
	wg      sync.WaitGroup
}

// startAnalyzer reads what PostgreSQL knows of each table's size.
func (s *Store) startAnalyzer(ctx context.Context) {
	if s.dialect != DialectPostgres {
		return
	}
	a := &analyzer{grown: map[string]int64{}, size: map[string]int64{}, running: map[string]bool{}}
	for _, t := range []string{"xref"} { // the tables whose plans depend on their size
		var n float64
		// reltuples is -1 for a table never analyzed.
		if err := s.db.GetContext(ctx, &n, "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = to_regclass($1)", t); err == nil {
			a.size[t] = int64(n)
		}
	}
	s.analyzer = a
}

// grew notes that n rows were added to table, and starts an ANALYZE of it
// when it has grown enough.
func (s *Store) grew(table string, n int) {
	a := s.analyzer
	if a == nil || n <= 0 {
		return
	}
	a.mu.Lock()
	a.grown[table] += int64(n)
	due := !a.running[table] && a.grown[table] >= max(analyzeMinRows, a.size[table])
	if due {
		a.running[table] = true
		a.size[table] += a.grown[table]
		a.grown[table] = 0
		a.wg.Add(1)
	}
	a.mu.Unlock()
	if !due {
		return
	}
	go func() {
		defer a.wg.Done()
		// Best effort: a failed ANALYZE (the store closing, a lock)
		// leaves the plans as they were, and the next growth tries again.
		_, _ = s.db.ExecContext(context.Background(), "ANALYZE "+table)
		a.mu.Lock()
		a.running[table] = false
		a.mu.Unlock()
	}()
}

// stopAnalyzer waits for a running ANALYZE.
func (s *Store) stopAnalyzer() {
	if s.analyzer != nil {
		s.analyzer.wg.Wait()
	}
}
