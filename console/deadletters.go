package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// dlFilter is the dead-letter page's filter, as its form and query carry it.
type dlFilter struct {
	Status, Connector, Entity, Error, Age string
}

func filterOf(q url.Values) dlFilter {
	f := dlFilter{Status: q.Get("status"), Connector: q.Get("connector"), Entity: q.Get("entity"), Error: q.Get("error"), Age: q.Get("age")}
	if f.Status == "" {
		f.Status = store.StatusOpen
	}
	return f
}

// store turns the filter into the store's; a bad age is an error naming it.
func (f dlFilter) store() (store.DeadLetterFilter, error) {
	sf := store.DeadLetterFilter{Status: f.Status, Connector: f.Connector, Entity: f.Entity, ErrorContains: f.Error, Payload: true, Limit: 200}
	if sf.Status == "all" {
		sf.Status = ""
	}
	if f.Age != "" {
		d, err := time.ParseDuration(f.Age)
		if err != nil || d <= 0 {
			return sf, errors.New(`age: give a duration such as 30m, 24h or 168h`)
		}
		sf.Before = time.Now().Add(-d)
	}
	return sf, nil
}

// dlRow is one dead letter as the page shows it.
type dlRow struct {
	store.DeadLetter
	PayloadText string
}

type dlPage struct {
	Filter     dlFilter
	Rows       []dlRow
	Total      int
	Statuses   []string
	Connectors []string
}

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r.URL.Query())
	data := dlPage{Filter: f, Statuses: []string{store.StatusOpen, store.StatusReplayed, store.StatusDiscarded, store.StatusSuperseded, "all"}}
	if counts, err := c.Store.CountOpenDeadLetters(r.Context()); err == nil {
		seen := map[string]bool{}
		for _, oc := range counts {
			if !seen[oc.Connector] {
				seen[oc.Connector] = true
				data.Connectors = append(data.Connectors, oc.Connector)
			}
		}
	}
	sf, err := f.store()
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "deadletters", "Dead letters", data, "", err.Error())
		return
	}
	list, err := c.Store.ListDeadLetters(r.Context(), sf)
	if err == nil {
		sf.Limit = 0
		data.Total, err = c.Store.CountDeadLetters(r.Context(), sf)
	}
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "deadletters", "Dead letters", data, "", err.Error())
		return
	}
	for _, d := range list {
		data.Rows = append(data.Rows, dlRow{DeadLetter: d, PayloadText: prettyPayload(d.Payload)})
	}
	c.Render(w, r, "deadletters", "Dead letters", data)
}

// prettyPayload indents a JSON payload; anything else shows as it is.
func prettyPayload(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") == nil {
		return out.String()
	}
	return string(b)
}

// actOnDeadLetters replays or discards the dead letters ticked on the page
// (id=...), one by one, and comes back to the page saying what happened to
// each.
func (c *Console) actOnDeadLetters(discard bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "form: "+err.Error(), http.StatusBadRequest)
			return
		}
		actor := server.Actor(r.Context())
		var done []string
		for _, s := range r.PostForm["id"] {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id < 1 {
				done = append(done, s+": not a dead-letter id")
				continue
			}
			if discard {
				err = c.Replayer.Discard(r.Context(), id, actor, r.PostFormValue("reason"))
				done = append(done, outcome(id, "discarded", err))
				continue
			}
			_, err = c.Replayer.Replay(r.Context(), id, actor)
			done = append(done, outcome(id, "replayed", err))
		}
		if len(done) == 0 {
			done = append(done, "tick one or more dead letters first")
		}
		back := "/console/deadletters?" + r.PostFormValue("back")
		http.Redirect(w, r, back+"&done="+url.QueryEscape(strings.Join(done, "; ")), http.StatusSeeOther)
	}
}

func outcome(id int64, what string, err error) string {
	n := "#" + strconv.FormatInt(id, 10)
	switch {
	case err == nil:
		return n + " " + what
	case errors.Is(err, pipeline.ErrSuperseded):
		return n + " not replayed: superseded by a newer version of the record"
	default:
		return n + " not " + what + ": " + err.Error()
	}
}
