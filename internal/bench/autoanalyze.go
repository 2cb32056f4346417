package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
)

// analyzeLikeAutovacuum keeps the statistics of the bench's tables in the
// given schemas current when the server's autovacuum is off (as on the
// development machines), doing what autovacuum's analyze would with its
// default thresholds: ANALYZE a table once 50 rows plus a tenth of it
// changed since the last one. Without statistics PostgreSQL takes each
// key of an IN list to match 0.5 % of a table, so the sink's "replace the
// lines of these orders" becomes a sequential scan of the whole lines
// table, and a backlog costs it O(n²): that measures the server's
// configuration, not the hub. It reports what it found on progress and
// runs until ctx ends.
func analyzeLikeAutovacuum(ctx context.Context, db *sqlx.DB, progress io.Writer, log *slog.Logger, schemas ...string) {
	var on string
	if err := db.GetContext(ctx, &on, "SHOW autovacuum"); err != nil || on == "on" {
		return
	}
	fmt.Fprintln(progress, "autovacuum is off on this server: the bench analyzes its tables as autovacuum would (after 50 rows + 10 % changed)")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var due []struct {
			Schema string `db:"schemaname"`
			Table  string `db:"relname"`
		}
		err := db.SelectContext(ctx, &due, `SELECT schemaname, relname FROM pg_stat_user_tables
WHERE schemaname = ANY($1) AND n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup - n_mod_since_analyze, 0)`, schemas)
		for _, t := range due {
			if err == nil {
				_, err = db.ExecContext(ctx, "ANALYZE "+pgx.Identifier{t.Schema, t.Table}.Sanitize())
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("bench: analyze", "err", err)
		}
	}
}
