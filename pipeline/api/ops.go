package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/crmhub/hub/pipeline"
	"github.com/crmhub/hub/server"
	"github.com/crmhub/hub/store"
)

// Operator is the running node as the operations routes see it.
type Operator interface {
	Status(ctx context.Context) (pipeline.NodeStatus, error)
	Pause(ctx context.Context, runner string, paused bool, actor, reason string) ([]string, error)
	CursorOf(ctx context.Context, source string) (pipeline.Cursor, error)
	SetCursor(ctx context.Context, source string, since *time.Time, actor string) (pipeline.Cursor, error)
	Reload(ctx context.Context, actor string) (pipeline.ReloadResult, error)
}

// Errors an Operator answers with, mapped to statuses.
var (
	// ErrNoRunner: the request names no source or sink of the config.
	ErrNoRunner = errors.New("no such runner")
	// ErrNotPaused: the operation needs its runner paused first.
	ErrNotPaused = errors.New("not paused")
	// ErrBadConfig: a reload found a config that does not load or build;
	// nothing of it was applied.
	ErrBadConfig = errors.New("config not reloaded")
)

// registerOps adds the operations routes: status, pause and resume,
// cursors, the audit log.
func (a *API) registerOps(srv *server.Server) {
	srv.HandleAuth("GET /api/v1/status", server.RoleViewer, http.HandlerFunc(a.status))
	srv.HandleAuth("POST /api/v1/sources/{name}/pause", server.RoleOperator, a.pause("source", true))
	srv.HandleAuth("POST /api/v1/sources/{name}/resume", server.RoleOperator, a.pause("source", false))
	srv.HandleAuth("POST /api/v1/sinks/{name}/pause", server.RoleOperator, a.pause("sink", true))
	srv.HandleAuth("POST /api/v1/sinks/{name}/resume", server.RoleOperator, a.pause("sink", false))
	srv.HandleAuth("GET /api/v1/sources/{name}/cursor", server.RoleViewer, http.HandlerFunc(a.cursor))
	srv.HandleAuth("PUT /api/v1/sources/{name}/cursor", server.RoleOperator, http.HandlerFunc(a.setCursor))
	srv.HandleAuth("GET /api/v1/audit", server.RoleOperator, http.HandlerFunc(a.audit))
	srv.HandleAuth("POST /api/v1/dlq/replay", server.RoleOperator, a.bulk(false))
	srv.HandleAuth("POST /api/v1/dlq/discard", server.RoleOperator, a.bulk(true))
	srv.HandleAuth("POST /api/v1/reload", server.RoleAdmin, http.HandlerFunc(a.reload))
}

// reload reads the config file again and applies what can change while
// the hub runs: 200 with what was applied and what was refused (and why),
// 422 when the config does not load.
func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	res, err := a.Ops.Reload(r.Context(), server.Actor(r.Context()))
	if err != nil {
		writeOpsErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, res)
}

// bulk replays or discards the open dead letters a filter selects. Body:
// {"connector", "entity", "stage", "error", "older_than": "24h", "all":
// true, "dry_run": true, "reason"}; a filter or all is required.
func (a *API) bulk(discard bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Connector string `json:"connector"`
			Entity    string `json:"entity"`
			Stage     string `json:"stage"`
			Error     string `json:"error"`
			OlderThan string `json:"older_than"`
			All       bool   `json:"all"`
			DryRun    bool   `json:"dry_run"`
			Reason    string `json:"reason"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			server.WriteJSON(w, http.StatusBadRequest, errBody("body: "+err.Error()))
			return
		}
		f := store.DeadLetterFilter{Connector: body.Connector, Entity: body.Entity, Stage: body.Stage, ErrorContains: body.Error}
		if body.OlderThan != "" {
			d, err := time.ParseDuration(body.OlderThan)
			if err != nil || d <= 0 {
				server.WriteJSON(w, http.StatusBadRequest, errBody("older_than: a positive duration such as 24h"))
				return
			}
			f.Before = time.Now().Add(-d)
		}
		if !body.All && f.Connector == "" && f.Entity == "" && f.Stage == "" && f.ErrorContains == "" && f.Before.IsZero() {
			server.WriteJSON(w, http.StatusBadRequest, errBody(`give a filter (connector, entity, stage, error, older_than) or "all": true`))
			return
		}
		res, err := a.Replayer.Bulk(r.Context(), f, discard, body.DryRun, server.Actor(r.Context()), body.Reason, nil)
		if err != nil {
			writeStoreErr(w, err)
			return
		}
		server.WriteJSON(w, http.StatusOK, res)
	})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.Ops.Status(r.Context())
	if err != nil {
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
		return
	}
	server.WriteJSON(w, http.StatusOK, st)
}

// pause pauses or resumes "source NAME", "sink NAME" (every entity) or,
// with ?entity=, "sink NAME/ENTITY". Body (optional): {"reason": "..."}.
func (a *API) pause(kind string, paused bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				server.WriteJSON(w, http.StatusBadRequest, errBody("body: "+err.Error()))
				return
			}
		}
		runner := kind + " " + r.PathValue("name")
		if e := r.URL.Query().Get("entity"); e != "" && kind == "sink" {
			runner += "/" + e
		}
		done, err := a.Ops.Pause(r.Context(), runner, paused, server.Actor(r.Context()), body.Reason)
		if err != nil {
			writeOpsErr(w, err)
			return
		}
		state := pipeline.StateRunning
		if paused {
			state = pipeline.StatePaused
		}
		server.WriteJSON(w, http.StatusOK, map[string]any{"runners": done, "state": state})
	})
}

func (a *API) cursor(w http.ResponseWriter, r *http.Request) {
	c, err := a.Ops.CursorOf(r.Context(), r.PathValue("name"))
	if err != nil {
		writeOpsErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, c)
}

// setCursor moves a paused source's cursor. Body: {"since": RFC 3339} or
// {"beginning": true}.
func (a *API) setCursor(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Since     *time.Time `json:"since"`
		Beginning bool       `json:"beginning"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		server.WriteJSON(w, http.StatusBadRequest, errBody("body: "+err.Error()))
		return
	}
	if (body.Since == nil) == !body.Beginning {
		server.WriteJSON(w, http.StatusBadRequest, errBody(`give either {"since": "2026-11-01T00:00:00Z"} or {"beginning": true}`))
		return
	}
	c, err := a.Ops.SetCursor(r.Context(), r.PathValue("name"), body.Since, server.Actor(r.Context()))
	if err != nil {
		writeOpsErr(w, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, c)
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query().Get("limit"), 100)
	if err != nil {
		server.WriteJSON(w, http.StatusBadRequest, errBody("limit: "+err.Error()))
		return
	}
	entries, err := a.Store.ListAudit(r.Context(), limit)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	out := make([]map[string]any, len(entries))
	for i, e := range entries {
		out[i] = map[string]any{"id": e.ID, "at": e.At, "actor": e.Actor, "action": e.Action, "subject": e.Subject, "detail": e.Detail}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"items": out, "limit": strconv.Itoa(limit)})
}

func writeOpsErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNoRunner):
		server.WriteJSON(w, http.StatusNotFound, errBody(err.Error()))
	case errors.Is(err, ErrNotPaused):
		server.WriteJSON(w, http.StatusConflict, errBody(err.Error()))
	case errors.Is(err, ErrBadConfig):
		server.WriteJSON(w, http.StatusUnprocessableEntity, errBody(err.Error()))
	case errors.Is(err, store.ErrNotFound):
		server.WriteJSON(w, http.StatusNotFound, errBody(err.Error()))
	default:
		server.WriteJSON(w, http.StatusInternalServerError, errBody(err.Error()))
	}
}
