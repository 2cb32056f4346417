package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crmhub/hub/connectors"
)

// TestClassify: connection trouble is retryable (the batch waits for the
// database); errors the data causes are permanent (the record is
// dead-lettered). A misfiled connection error dead-letters good records.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want connectors.ErrorKind
	}{
		{"pgx conn closed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), connectors.KindRetryable},
		{"bad conn", fmt.Errorf("exec: %w", driver.ErrBadConn), connectors.KindRetryable},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), connectors.KindRetryable},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), connectors.KindRetryable},
		{"deadline", context.DeadlineExceeded, connectors.KindRetryable},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, connectors.KindRetryable},
		{"pg admin shutdown", &pgconn.PgError{Code: "57P01"}, connectors.KindRetryable},
		{"pg lock not available", &pgconn.PgError{Code: "55P03"}, connectors.KindRetryable},
		{"mysql gone away", &mysql.MySQLError{Number: 2006}, connectors.KindRetryable},
		{"mysql deadlock", &mysql.MySQLError{Number: 1213}, connectors.KindRetryable},
		{"pg not null", &pgconn.PgError{Code: "23502", ColumnName: "email"}, connectors.KindPermanent},
		{"pg bad number", &pgconn.PgError{Code: "22P02"}, connectors.KindPermanent},
		{"mysql data too long", &mysql.MySQLError{Number: 1406}, connectors.KindPermanent},
		{"plain error", errors.New("value out of range"), connectors.KindPermanent},
	} {
		for _, d := range []dialect{postgres, mariadb, sqlite3} {
			if got, _ := connectors.Classify(d.classify(c.err)); got != c.want {
				t.Errorf("%s (dialect %d): %v, want %v", c.name, d, got, c.want)
			}
		}
	}
}
