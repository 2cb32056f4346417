package tryton

import (
	"context"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
)

var _ connectors.CursorCodec = (*Conn)(nil)

// DescribeCursor says after which change a source of entity stands.
func (c *Conn) DescribeCursor(_ context.Context, entity, s string) (string, error) {
	cur, t, err := decodeCursor(s)
	if err != nil {
		return "", err
	}
	if cur.T == "" {
		return "the beginning: every " + entity + " will be read", nil
	}
	return fmt.Sprintf("after the change of %s id %d at %s (write_date); %d records of the look-back window behind it already read",
		entity, cur.ID, t.UTC().Format(time.RFC3339Nano), len(cur.Seen)), nil
}

// CursorSince is the cursor from which a source reads every record of
// entity changed at or after since.
func (c *Conn) CursorSince(_ context.Context, _ string, since time.Time) (string, error) {
	return cursor{T: since.UTC().Format(time.RFC3339Nano), ID: 0}.encode(), nil
}
