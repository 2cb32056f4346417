package api

import (
	"net/http"
	"time"

	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// TraceJSON is the answer of GET /api/v1/trace/{id}: every record the id
// names, with its journey.
type TraceJSON struct {
	ID      string            `json:"id"`
	Records []RecordTraceJSON `json:"records"`
}

// RecordTraceJSON is one record's journey.
type RecordTraceJSON struct {
	Entity      string           `json:"entity"`
	HubID       string           `json:"hub_id"`
	Links       []LinkJSON       `json:"links"`
	Events      []EventJSON      `json:"events"`
	DeadLetters []DeadLetterJSON `json:"dead_letters"`
}

// LinkJSON is the record's id in one system.
type LinkJSON struct {
	System     string    `json:"system"`
	ExternalID string    `json:"external_id"`
	Version    string    `json:"version,omitempty"`
	LastHash   string    `json:"last_hash,omitempty"`
	Linked     time.Time `json:"linked"`
	Updated    time.Time `json:"updated"`
}

// EventJSON is one step of the journey.
type EventJSON struct {
	At         time.Time `json:"at"`
	Event      string    `json:"event"`
	System     string    `json:"system,omitempty"`
	Connector  string    `json:"connector,omitempty"`
	ExternalID string    `json:"external_id,omitempty"`
	Version    string    `json:"version,omitempty"`
	Hash       string    `json:"hash,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// TraceToJSON converts traced records.
func TraceToJSON(id string, recs []store.RecordTrace) TraceJSON {
	out := TraceJSON{ID: id, Records: make([]RecordTraceJSON, 0, len(recs))}
	for _, r := range recs {
		rj := RecordTraceJSON{Entity: r.Entity, HubID: r.HubID, Links: []LinkJSON{}, Events: []EventJSON{}, DeadLetters: []DeadLetterJSON{}}
		for _, l := range r.Links {
			rj.Links = append(rj.Links, LinkJSON{System: l.System, ExternalID: l.ExternalID, Version: l.Version,
				LastHash: l.LastHash, Linked: l.CreatedAt, Updated: l.UpdatedAt})
		}
		for _, e := range r.Events {
			rj.Events = append(rj.Events, EventJSON{At: e.At, Event: e.Event, System: e.System, Connector: e.Connector,
				ExternalID: e.ExternalID, Version: e.Version, Hash: e.Hash, Detail: e.Detail})
		}
		for _, d := range r.DeadLetters {
			rj.DeadLetters = append(rj.DeadLetters, ToJSON(d))
		}
		out.Records = append(out.Records, rj)
	}
	return out
}

// trace answers "where is this record?" for a hub id or any system's id;
// ?entity= narrows it. An id nothing knows is 404.
func (a *API) trace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	recs, err := a.Store.Trace(r.Context(), id, r.URL.Query().Get("entity"))
	if err != nil {
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	if len(recs) == 0 {
		server.WriteJSON(w, http.StatusNotFound, errBody("nothing known about "+id))
		return
	}
	server.WriteJSON(w, http.StatusOK, TraceToJSON(id, recs))
}
