package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	pathpkg "path"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// Write upserts a batch record by record and returns one result each. A
// record is keyed on WriteRecord.ExternalID when the pipeline knows it,
// else on match.field (found with the list), so writing it again, or
// again after a crash between the create and the pipeline recording the
// id, updates the same record instead of creating a second one. With
// skip_unchanged (the default) a record the target already holds as sent
// is not written at all (Unchanged). An update of an id the target no
// longer has (404, 410) that match does not find elsewhere is NotFound,
// not created again; so is a delete of a record already gone. A record
// the server refuses fails alone with the
// server's message. After the credentials or rights are refused (401,
// 403) or a 429 the core could not wait out, the rest of the batch is not
// sent and the batch fails with that error: no record is to blame.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	cl, e, err := c.started(entity)
	if err != nil {
		return nil, err
	}
	if e.cfg.ReadOnly {
		return nil, connectors.Permanent(fmt.Errorf("rest %s: %s records are read-only here (read_only: true)", c.name, entity))
	}
	res := make([]connectors.Result, len(recs))
	for i, rec := range recs {
		w := &write{c: c, cl: cl, e: e, rec: rec}
		res[i] = w.run(ctx)
		if res[i].Err != nil && failsBatch(res[i].Err) {
			return nil, fmt.Errorf("rest %s: write %s: %w", c.name, entity, res[i].Err)
		}
	}
	return erp.Settled(res, nil)
}

func label(rec connectors.WriteRecord) string {
	switch {
	case rec.HubID != "":
		return rec.HubID
	case rec.ExternalID != "":
		return rec.ExternalID
	}
	return "(no id)"
}

// write is the writing of one record.
type write struct {
	c   *Conn
	cl  *erp.Client
	e   *entity
	rec connectors.WriteRecord

	data   mapping.Value // the record sent, with the match value filled in
	body   []byte
	value  string // the match value, "" without match
	looked bool
}

func (w *write) fail(id string, err error) connectors.Result {
	return connectors.Result{ExternalID: id, Err: fmt.Errorf("rest %s: %s %s: %w", w.c.name, w.e.name, label(w.rec), err)}
}

func (w *write) run(ctx context.Context) connectors.Result {
	e, rec := w.e, w.rec
	w.data = rec.Data
	if len(e.match) > 0 {
		w.value = text(e.matchPath.get(w.data))
		if w.value == "" && rec.HubID != "" {
			w.value = rec.HubID
			if rec.Op != connectors.OpDelete && w.data.Kind() == mapping.Object {
				w.data = e.matchPath.set(w.data, mapping.StringValue(rec.HubID))
			}
		}
	}
	if rec.Op == connectors.OpDelete {
		return w.delete(ctx)
	}
	if w.data.Kind() != mapping.Object {
		return w.fail(rec.ExternalID, connectors.Permanent(fmt.Errorf("the record is a %s, not an object", w.data.Kind())))
	}
	w.body = w.encode(w.data)
	id := rec.ExternalID
	if id == "" {
		found, err := w.find(ctx)
		if err != nil {
			return w.fail("", err)
		}
		id = found
	}
	if id == "" {
		newID, err := w.create(ctx)
		if err != nil {
			return w.fail(newID, err)
		}
		return connectors.Result{ExternalID: newID, Outcome: connectors.Written}
	}
	for {
		out, newID, err := w.update(ctx, id)
		if err != nil {
			return w.fail(id, err)
		}
		if out != connectors.NotFound {
			return connectors.Result{ExternalID: newID, Outcome: out}
		}
		// The target no longer has the record under that id: find it
		// by its reference; if nothing carries it, it is gone.
		gone := id
		if id = ""; !w.looked {
			if id, err = w.find(ctx); err != nil {
				return w.fail("", err)
			}
		}
		if id == "" || id == gone {
			return connectors.Result{ExternalID: rec.ExternalID, Outcome: connectors.NotFound}
		}
	}
}

func (w *write) encode(d mapping.Value) []byte {
	if w.e.cfg.Wrap != "" {
		d = mapping.ObjectValue(mapping.Member{Key: w.e.cfg.Wrap, Value: d})
	}
	return mapping.AppendJSON(nil, d)
}

// find looks the record up by its match value: "" when there is none (or
// no match is configured), an error when several records carry it.
func (w *write) find(ctx context.Context) (string, error) {
	w.looked = true
	if len(w.e.match) == 0 || w.value == "" {
		return "", nil
	}
	ids, err := findByMatch(ctx, w.cl, w.e, w.value)
	if err != nil {
		return "", fmt.Errorf("find by %s %q: %w", w.e.cfg.Match.Field, w.value, err)
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", connectors.Permanent(fmt.Errorf("%d records have %s %q (%s): the target holds duplicates; remove all but one and replay",
		len(ids), w.e.cfg.Match.Field, w.value, strings.Join(ids, ", ")))
}

// findByMatch lists the records whose match field equals value exactly.
func findByMatch(ctx context.Context, cl *erp.Client, e *entity, value string) ([]string, error) {
	var ids []string
	err := list(ctx, cl, e, e.query(e.match, "value", value), listOpts{op: "find " + e.name + " by " + e.cfg.Match.Field},
		func(recs []mapping.Value) (bool, error) {
			for _, r := range recs {
				if text(e.matchPath.get(r)) != value {
					continue
				}
				id, err := e.idOf(r)
				if err != nil {
					return false, connectors.Permanent(err)
				}
				dup := false
				for _, have := range ids {
					dup = dup || have == id
				}
				if !dup {
					ids = append(ids, id)
				}
			}
			return true, nil
		})
	return ids, err
}

// update sends the record to id (Written), or nothing when the target
// holds it already (skip_unchanged: Unchanged). NotFound reports that the
// target has no record with that id (404 or 410).
func (w *write) update(ctx context.Context, id string) (connectors.Outcome, string, error) {
	e := w.e
	if *e.cfg.SkipUnchanged {
		have, found, err := getRecord(ctx, w.cl, e, id)
		if err != nil {
			return connectors.Failed, id, fmt.Errorf("read %s before updating it: %w", id, err)
		}
		if !found {
			return connectors.NotFound, "", nil
		}
		want := w.data
		for _, p := range e.writeOnly {
			want = p.without(want)
		}
		if covers(have, want) {
			return connectors.Unchanged, idOr(e, have, id), nil
		}
	}
	resp, err := do(ctx, w.cl, erp.Request{Op: "update " + e.name + " " + id, Method: e.cfg.Update.Method,
		Path: pathOf(e.cfg.Update.Path, id), Body: w.body, Idempotent: e.cfg.Update.Method != http.MethodPost,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		if s := statusOf(err); s == http.StatusNotFound || s == http.StatusGone {
			return connectors.NotFound, "", nil
		}
		return connectors.Failed, id, err
	}
	return connectors.Written, replyID(e, resp, id), nil
}

// create sends a new record and returns its id from the reply (or its
// Location header).
func (w *write) create(ctx context.Context) (string, error) {
	e := w.e
	resp, err := do(ctx, w.cl, erp.Request{Op: "create " + e.name, Method: e.cfg.Create.Method, Path: e.cfg.Create.Path,
		Body: w.body, Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return "", err
	}
	if id := replyID(e, resp, ""); id != "" {
		return id, nil
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			if id, err := url.PathUnescape(pathpkg.Base(u.Path)); err == nil && id != "" && id != "/" && id != "." {
				return id, nil
			}
		}
	}
	err = fmt.Errorf("created, but the reply has no id at %s (id_field:, record:)", e.idPath)
	if len(e.match) > 0 {
		return "", connectors.Retryable(fmt.Errorf("%w; the retry finds the record by %s", err, e.cfg.Match.Field), 0)
	}
	return "", connectors.Permanent(err)
}

// delete applies a delete: a hard DELETE (a record already gone is
// fine), or a soft one (the update with delete.field set).
func (w *write) delete(ctx context.Context) connectors.Result {
	e := w.e
	if e.cfg.Delete.Mode == DeleteNone {
		return w.fail(w.rec.ExternalID, connectors.Permanent(errors.New("deletes are not configured for it (delete.mode)")))
	}
	id := w.rec.ExternalID
	if id == "" {
		found, err := w.find(ctx)
		if err != nil {
			return w.fail("", err)
		}
		if found == "" {
			return connectors.Result{Outcome: connectors.NotFound} // nothing to delete
		}
		id = found
	}
	var err error
	if e.cfg.Delete.Mode == DeleteHard {
		_, err = do(ctx, w.cl, erp.Request{Op: "delete " + e.name + " " + id, Method: e.cfg.Delete.Method,
			Path: pathOf(e.cfg.Delete.Path, id), Idempotent: true, Header: http.Header{"Accept": {"application/json"}}})
	} else {
		var f path
		f, _ = parsePath(e.cfg.Delete.Field)
		body := w.encode(f.set(mapping.ObjectValue(), e.softValue))
		_, err = do(ctx, w.cl, erp.Request{Op: "soft-delete " + e.name + " " + id, Method: e.cfg.Update.Method,
			Path: pathOf(e.cfg.Update.Path, id), Body: body, Idempotent: e.cfg.Update.Method != http.MethodPost,
			Header: http.Header{"Accept": {"application/json"}}})
	}
	if err != nil {
		if s := statusOf(err); s == http.StatusNotFound || s == http.StatusGone {
			return connectors.Result{ExternalID: id, Outcome: connectors.NotFound}
		}
		return w.fail(id, err)
	}
	return connectors.Result{ExternalID: id, Outcome: connectors.Written}
}

// replyID is the id in a create or update reply, else def.
func replyID(e *entity, resp *erp.Response, def string) string {
	body, err := parseBody(resp.Body)
	if err != nil {
		return def
	}
	return idOr(e, e.recordPath.get(body), def)
}

func idOr(e *entity, rec mapping.Value, def string) string {
	if id, err := e.idOf(rec); err == nil {
		return id
	}
	return def
}

// covers reports whether have holds everything want says: every member of
// an object (at any depth; have may hold more), arrays element by
// element and of the same length, numbers by value (199 is "199.00" when
// either side is a JSON number), booleans also as 0/1, null as missing or
// "".
func covers(have, want mapping.Value) bool {
	switch want.Kind() {
	case mapping.Object:
		if have.Kind() != mapping.Object {
			return false
		}
		for _, m := range want.Members() {
			if !covers(have.Get(m.Key), m.Value) {
				return false
			}
		}
		return true
	case mapping.Array:
		if have.Kind() != mapping.Array || have.Len() != want.Len() {
			return false
		}
		for i, el := range want.Elems() {
			if !covers(have.Index(i), el) {
				return false
			}
		}
		return true
	case mapping.Null:
		return have.IsNull() || have.Kind() == mapping.String && have.Str() == ""
	}
	return sameScalar(have, want)
}

func sameScalar(have, want mapping.Value) bool {
	hk, wk := have.Kind(), want.Kind()
	if hk == mapping.Object || hk == mapping.Array || hk == mapping.Null {
		return false
	}
	hs, ws := strings.TrimSpace(have.Str()), strings.TrimSpace(want.Str())
	if hk == wk && hs == ws {
		return true
	}
	switch {
	case hk == mapping.Number || wk == mapping.Number:
		if hk == mapping.Bool || wk == mapping.Bool {
			b, n := have, want
			if wk == mapping.Bool {
				b, n = want, have
			}
			return b.Bool() && n.Str() == "1" || !b.Bool() && n.Str() == "0"
		}
		x, err1 := decimal.NewFromString(hs)
		y, err2 := decimal.NewFromString(ws)
		return err1 == nil && err2 == nil && x.Equal(y)
	case hk == mapping.String && wk == mapping.String:
		return hs == ws
	}
	return false
}
