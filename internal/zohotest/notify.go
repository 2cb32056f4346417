package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// channel is a notification channel (actions/watch).
type channel struct {
	id        string
	events    []string
	token     string
	notifyURL string
	expiry    time.Time
}

// maxChannelLife is the longest a channel may live.
const maxChannelLife = 7 * 24 * time.Hour

// delivery is one notification to post.
type delivery struct {
	url  string
	body []byte
}

// Delivery is a notification the server posted and how it was answered.
type Delivery struct {
	ChannelID string
	Body      []byte
	Status    int
	Err       error
}

// watch answers POST, PATCH and DELETE /crm/v8/actions/watch.
func (s *Server) watch(w http.ResponseWriter, method string, body []byte) (int, string) {
	if method == http.MethodDelete {
		s.mu.Lock()
		s.channels = map[string]*channel{}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"watch": []any{map[string]any{"code": "SUCCESS", "status": "success", "message": "Successfully unsubscribed", "details": map[string]any{}}}})
		return http.StatusOK, ""
	}
	var req struct {
		Watch []struct {
			ChannelID     json.Number `json:"channel_id"`
			Events        []string    `json:"events"`
			ChannelExpiry string      `json:"channel_expiry"`
			Token         string      `json:"token"`
			NotifyURL     string      `json:"notify_url"`
		} `json:"watch"`
	}
	if err := decodeJSON(body, &req); err != nil || len(req.Watch) == 0 {
		writeJSON(w, http.StatusBadRequest, apiError("INVALID_DATA", "watch is missing", nil))
		return http.StatusBadRequest, "INVALID_DATA"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []any
	for _, c := range req.Watch {
		exp := now.Add(time.Hour)
		if c.ChannelExpiry != "" {
			t, err := time.Parse(time.RFC3339, c.ChannelExpiry)
			if err != nil || !t.After(now) || t.Sub(now) > maxChannelLife {
				out = append(out, map[string]any{"code": "INVALID_DATA", "status": "error", "message": "invalid channel expiry time",
					"details": map[string]any{"api_name": "channel_expiry"}})
				continue
			}
			exp = t
		}
		id := c.ChannelID.String()
		if method == http.MethodPatch {
			ch, ok := s.channels[id]
			if !ok {
				out = append(out, map[string]any{"code": "INVALID_DATA", "status": "error", "message": "the channel id given seems to be invalid", "details": map[string]any{"api_name": "channel_id"}})
				continue
			}
			ch.expiry = exp
			if c.Token != "" {
				ch.token = c.Token
			}
		} else {
			if c.NotifyURL == "" || len(c.Token) > 50 {
				out = append(out, map[string]any{"code": "INVALID_DATA", "status": "error", "message": "invalid notify_url or token", "details": map[string]any{}})
				continue
			}
			s.channels[id] = &channel{id: id, events: c.Events, token: c.Token, notifyURL: c.NotifyURL, expiry: exp}
		}
		var evs []any
		for _, e := range c.Events {
			mod, _, _ := strings.Cut(e, ".")
			evs = append(evs, map[string]any{"channel_expiry": zohoTime(exp), "resource_uri": s.APIDomain + "/crm/v8/" + mod,
				"resource_id": "4150868000000002175", "resource_name": mod, "channel_id": id})
		}
		out = append(out, map[string]any{"code": "SUCCESS", "status": "success", "message": "Successfully subscribed for actions-watch of the given module",
			"details": map[string]any{"events": evs}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"watch": out})
	return http.StatusOK, ""
}

// ChannelExpiry returns when a channel expires (zero when there is no
// such channel).
func (s *Server) ChannelExpiry(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[id]; ok {
		return ch.expiry
	}
	return time.Time{}
}

// notifyLocked queues a notification of op on ids to every live channel
// watching module.
func (s *Server) notifyLocked(module, op string, ids []string) {
	now := s.now()
	for _, ch := range s.channels {
		if !now.Before(ch.expiry) || !watches(ch.events, module, op) {
			continue
		}
		body, _ := json.Marshal(map[string]any{"server_time": now.UnixMilli(), "query_params": map[string]any{}, "module": module,
			"resource_uri": s.APIDomain + "/crm/v8/" + module, "ids": ids, "affected_fields": []any{}, "operation": op,
			"channel_id": ch.id, "token": ch.token})
		select {
		case s.deliver <- delivery{url: ch.notifyURL, body: body}:
		default: // a full queue drops the notification, as a busy sender may
		}
	}
}

func watches(events []string, module, op string) bool {
	want := map[string]string{"insert": "create", "update": "edit", "delete": "delete"}[op]
	for _, e := range events {
		m, what, _ := strings.Cut(e, ".")
		if m == module && (what == "all" || what == want) {
			return true
		}
	}
	return false
}

// deliverLoop posts queued notifications one at a time, in order.
func (s *Server) deliverLoop() {
	defer s.wg.Done()
	cl := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-s.closed:
			return
		case d := <-s.deliver:
			var id struct {
				ChannelID string `json:"channel_id"`
			}
			_ = json.Unmarshal(d.body, &id)
			rec := Delivery{ChannelID: id.ChannelID, Body: d.body}
			resp, err := cl.Post(d.url, "application/json", bytes.NewReader(d.body))
			if err != nil {
				rec.Err = err
			} else {
				rec.Status = resp.StatusCode
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					rec.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			s.mu.Lock()
			s.delivered = append(s.delivered, rec)
			s.mu.Unlock()
		}
	}
}

// Delivered lists the notifications posted so far.
func (s *Server) Delivered() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.delivered...)
}
