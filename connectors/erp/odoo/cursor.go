package odoo

import (
	"context"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
)

var _ connectors.CursorCodec = (*Conn)(nil)

// DescribeCursor says after which change a source of entity stands.
func (c *Conn) DescribeCursor(_ context.Context, entity, s string) (string, error) {
	cur, err := decodeCursor(s)
	if err != nil {
		return "", err
	}
	if cur.T == "" {
		return "the beginning: every " + entity + " will be read", nil
	}
	return fmt.Sprintf("changes of %s from %s UTC on (write_date), %d records near it already read", entity, cur.T, len(cur.S)), nil
}

// CursorSince is the cursor from which a source reads every record of
// entity changed at or after since (Odoo's write_date has seconds).
func (c *Conn) CursorSince(_ context.Context, _ string, since time.Time) (string, error) {
	return cursor{T: since.UTC().Truncate(time.Second).Format(odooTime)}.encode(), nil
}
