// Package api owns the hub's HTTP API under /api/v1: the dead-letter store
// (list, show, replay, discard, link) and record traces. Routes are registered on the server with
// the role each needs; the server checks tokens.
//
// It may import pipeline, store and server; nothing imports it but the node.
package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// API serves the routes.
type API struct {
	Store    *store.Store
	Replayer *pipeline.Replayer
	// Views are the node's read models, by connector name.
	Views map[string]*pipeline.ViewRunner
	// Ops is the running node (status, pause, cursors); nil leaves the
	// operations routes out.
	Ops Operator
	// Recon is the node's reconciliation jobs (run now); nil: none.
	Recon Reconciliations
}

// Register adds the API routes to srv.
func (a *API) Register(srv *server.Server) {
	srv.HandleAuth("GET /api/v1/dlq", server.RoleViewer, http.HandlerFunc(a.listDLQ))
	srv.HandleAuth("GET /api/v1/dlq/{id}", server.RoleViewer, http.HandlerFunc(a.showDLQ))
	srv.HandleAuth("POST /api/v1/dlq/{id}/replay", server.RoleOperator, http.HandlerFunc(a.replayDLQ))
	srv.HandleAuth("POST /api/v1/dlq/{id}/link", server.RoleOperator, http.HandlerFunc(a.linkDLQ))
	srv.HandleAuth("POST /api/v1/dlq/{id}/discard", server.RoleOperator, http.HandlerFunc(a.discardDLQ))
	srv.HandleAuth("GET /api/v1/trace/{id}", server.RoleViewer, http.HandlerFunc(a.trace))
	srv.HandleAuth("POST /api/v1/views/{name}/rebuild", server.RoleAdmin, http.HandlerFunc(a.rebuildView))
	if a.Ops != nil {
		a.registerOps(srv)
	}
	a.registerRecon(srv)
}

// rebuildView makes a read model forget everything and read its topics
// again from the start.
func (a *API) rebuildView(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := a.Views[name]
	if !ok {
		server.WriteJSON(w, http.StatusNotFound, errBody("no view named "+strconv.Quote(name)))
		return
	}
	actor := server.Actor(r.Context())
	if err := v.Rebuild(r.Context()); err != nil {
		_ = a.Store.AppendAudit(r.Context(), actor, "view.rebuild", "view:"+name, "failed: "+err.Error())
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	if err := a.Store.AppendAudit(r.Context(), actor, "view.rebuild", "view:"+name, "reset; reading its topics again from the start"); err != nil {
		server.WriteJSON(w, http.StatusInternalServerError, errBody("audit: "+err.Error()))
		return
	}
	server.WriteJSON(w, http.StatusAccepted, map[string]any{"view": name, "status": "rebuilding"})
}

// DeadLetterJSON is a dead letter as the API and `hub dlq` show it.
type DeadLetterJSON struct {
	ID          int64           `json:"id"`
	Connector   string          `json:"connector"`
	Entity      string          `json:"entity"`
	RecordKey   string          `json:"record_key,omitempty"`
	HubID       string          `json:"hub_id,omitempty"`
	Stage       string          `json:"stage"`
	Kind        string          `json:"kind"`
	Error       string          `json:"error"`
	Attempts    int             `json:"attempts"`
	Occurrences int             `json:"occurrences"`
	FirstSeen   time.Time       `json:"first_seen"`
	LastSeen    time.Time       `json:"last_seen"`
	Status      string          `json:"status"`
	Topic       string          `json:"topic,omitempty"`
	Partition   *int            `json:"partition,omitempty"`
	Offset      *int64          `json:"offset,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	PayloadText string          `json:"payload_text,omitempty"` // when the payload is not JSON
}

// ToJSON converts a stored dead letter.
func ToJSON(d store.DeadLetter) DeadLetterJSON {
	out := DeadLetterJSON{
		ID: d.ID, Connector: d.Connector, Entity: d.Entity, RecordKey: d.RecordKey, HubID: d.HubID,
		Stage: d.Stage, Kind: d.Kind, Error: d.Error, Attempts: d.Attempts, Occurrences: d.Occurrences,
		FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, Status: d.Status, Topic: d.Topic,
	}
	if d.Topic != "" {
		out.Partition, out.Offset = &d.Partition, &d.Offset
	}
	if len(d.Payload) > 0 {
		if json.Valid(d.Payload) {
			out.Payload = d.Payload
		} else {
			out.PayloadText = string(d.Payload)
		}
	}
	return out
}

func (a *API) listDLQ(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeadLetterFilter{Status: q.Get("status"), Connector: q.Get("connector"), Entity: q.Get("entity")}
	if f.Status == "" {
		f.Status = store.StatusOpen
	} else if f.Status == "all" {
		f.Status = ""
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 100); err != nil || f.Limit < 1 || f.Limit > 1000 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("limit must be 1-1000"))
		return
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil || f.Offset < 0 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("offset must be a non-negative integer"))
		return
	}
	list, err := a.Store.ListDeadLetters(r.Context(), f)
	if err != nil {
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	total, err := a.Store.CountDeadLetters(r.Context(), store.DeadLetterFilter{Status: f.Status, Connector: f.Connector, Entity: f.Entity})
	if err != nil {
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	items := make([]DeadLetterJSON, len(list))
	for i, d := range list {
		items[i] = ToJSON(d)
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"total": total, "items": items})
}

func (a *API) showDLQ(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	d, err := a.Store.GetDeadLetter(r.Context(), id)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, ToJSON(d))
}

func (a *API) replayDLQ(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	what, err := a.Replayer.Replay(r.Context(), id, server.Actor(r.Context()))
	switch {
	case errors.Is(err, pipeline.ErrSuperseded):
		server.WriteJSON(w, http.StatusConflict, map[string]any{"id": id, "status": store.StatusSuperseded, "error": err.Error()})
	case errors.Is(err, pipeline.ErrNotReplayable), errors.Is(err, pipeline.ErrNotOpen):
		server.WriteJSON(w, http.StatusConflict, errBody(err.Error()))
	case err != nil:
		writeStoreErr(w, err)
	default:
		server.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "status": store.StatusReplayed, "done": what})
	}
}

// linkDLQ resolves a match review: body {"hub_id": "..."} links the parked
// record to that hub record, {"new": true} to a new one.
func (a *API) linkDLQ(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var body struct {
		HubID string `json:"hub_id"`
		New   bool   `json:"new"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		server.WriteJSON(w, http.StatusBadRequest, errBody("body: "+err.Error()))
		return
	}
	if (body.HubID == "") == !body.New {
		server.WriteJSON(w, http.StatusBadRequest, errBody(`body: give either "hub_id" or "new": true`))
		return
	}
	what, err := a.Replayer.Link(r.Context(), id, body.HubID, server.Actor(r.Context()))
	switch {
	case errors.Is(err, pipeline.ErrNotReplayable), errors.Is(err, pipeline.ErrNotOpen):
		server.WriteJSON(w, http.StatusConflict, errBody(err.Error()))
	case err != nil:
		writeStoreErr(w, err)
	default:
		server.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "status": store.StatusReplayed, "done": what})
	}
}

func (a *API) discardDLQ(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			server.WriteJSON(w, http.StatusBadRequest, errBody("body: "+err.Error()))
			return
		}
	}
	if err := a.Replayer.Discard(r.Context(), id, server.Actor(r.Context()), body.Reason); err != nil {
		writeStoreErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "status": store.StatusDiscarded})
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		server.WriteJSON(w, http.StatusBadRequest, errBody("id must be a positive integer"))
		return 0, false
	}
	return id, true
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

func writeStoreErr(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		server.WriteJSON(w, http.StatusNotFound, errBody(err.Error()))
		return
	}
	if errors.Is(err, pipeline.ErrNotOpen) {
		server.WriteJSON(w, http.StatusConflict, errBody(err.Error()))
		return
	}
	server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }
