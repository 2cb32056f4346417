package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/api"
)

type tracePage struct {
	ID, Entity string
	Trace      *api.TraceJSON
}

// trace shows where a record went, by its hub id or any system's id.
func (c *Console) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := tracePage{ID: strings.TrimSpace(q.Get("id")), Entity: q.Get("entity")}
	if data.ID == "" {
		c.Render(w, r, "trace", "Record trace", data)
		return
	}
	recs, err := c.Store.Trace(r.Context(), data.ID, data.Entity)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "trace", "Record trace", data, "", err.Error())
		return
	}
	if len(recs) == 0 {
		c.render(w, r, http.StatusNotFound, "trace", "Record trace", data, "", "nothing known about "+data.ID)
		return
	}
	t := api.TraceToJSON(data.ID, recs)
	data.Trace = &t
	c.Render(w, r, "trace", "Record trace", data)
}

type mappingsPage struct {
	Names    []string
	Name     string
	Spec     string
	Sample   string
	Output   string
	Problems []string // the spec's own problems, with file:line
	Fields   []mapping.FieldError
}

// mappings shows a mapping of the config and maps a pasted sample with it:
// the output, or every field that failed. The spec is read from disk on
// each request, so an edit shows at once (the running pipeline takes it
// on reload).
func (c *Console) mappings(w http.ResponseWriter, r *http.Request) {
	data := mappingsPage{Names: sortedKeys(c.Mappings), Name: r.FormValue("name"), Sample: r.FormValue("sample")}
	try := r.Method == http.MethodPost
	if dl := r.URL.Query().Get("dl"); dl != "" && r.Method == http.MethodGet {
		// "Try in the playground" of a dead letter: its payload, mapped
		// with the mapping of its source or sink.
		name, sample, err := c.deadLetterSample(r, dl)
		if err != nil {
			c.render(w, r, http.StatusNotFound, "mappings", "Mappings", data, "", err.Error())
			return
		}
		if data.Name == "" {
			data.Name = name
		}
		data.Sample, try = sample, true
	}
	if data.Name == "" && len(data.Names) > 0 {
		data.Name = data.Names[0]
	}
	path, ok := c.Mappings[data.Name]
	if !ok {
		c.render(w, r, http.StatusNotFound, "mappings", "Mappings", data, "", "no mapping used by "+data.Name)
		return
	}
	spec, err := os.ReadFile(path)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "mappings", "Mappings", data, "", "read "+path+": "+err.Error())
		return
	}
	data.Spec = string(spec)
	plan, err := mapping.Load(path)
	if err != nil {
		var probs mapping.Problems
		if errors.As(err, &probs) {
			for _, p := range probs {
				data.Problems = append(data.Problems, p.String())
			}
		} else {
			data.Problems = []string{err.Error()}
		}
	}
	if !try || plan == nil || strings.TrimSpace(data.Sample) == "" {
		c.Render(w, r, "mappings", "Mappings", data)
		return
	}
	rec, err := mapping.ParseJSON(bytes.TrimSpace([]byte(data.Sample)))
	if err != nil {
		c.render(w, r, http.StatusOK, "mappings", "Mappings", data, "", "the sample is not JSON: "+err.Error())
		return
	}
	out, err := plan.Apply(r.Context(), rec, mapping.MapLookup{})
	if err != nil {
		var re *mapping.RecordError
		if errors.As(err, &re) {
			data.Fields = re.Errors
		} else {
			c.render(w, r, http.StatusOK, "mappings", "Mappings", data, "", err.Error())
			return
		}
	} else {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, mapping.AppendJSON(nil, out), "", "  ")
		data.Output = pretty.String()
	}
	c.Render(w, r, "mappings", "Mappings", data)
}

// deadLetterSample is a dead letter's payload and the mapping that failed
// on it (its source's, or its sink's for the entity).
func (c *Console) deadLetterSample(r *http.Request, id string) (name, sample string, err error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return "", "", errors.New("dl: not a dead-letter id")
	}
	d, err := c.Store.GetDeadLetter(r.Context(), n)
	if err != nil {
		return "", "", err
	}
	for _, cand := range []string{"source " + d.Connector, "sink " + d.Connector + "/" + d.Entity} {
		if _, ok := c.Mappings[cand]; ok {
			name = cand
		}
	}
	return name, prettyPayload(d.Payload), nil
}

// screenPopAnswer is the part of a screen-pop answer the page shows.
type screenPopAnswer struct {
	Phone     string `json:"phone"`
	Customers []struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		CustomerNo   string `json:"customer_no"`
		Company      string `json:"company"`
		Email        string `json:"email"`
		Phone        string `json:"phone"`
		City         string `json:"city"`
		Country      string `json:"country"`
		RecentOrders []struct {
			OrderNo  string `json:"order_no"`
			Date     string `json:"order_date"`
			Status   string `json:"status"`
			Currency string `json:"currency"`
			Total    string `json:"total"`
		} `json:"recent_orders"`
		OpenInvoices []struct {
			InvoiceNo    string `json:"invoice_no"`
			DueDate      string `json:"due_date"`
			PaymentState string `json:"payment_state"`
			Currency     string `json:"currency"`
			Total        string `json:"total"`
		} `json:"open_invoices"`
	} `json:"customers"`
}

type screenPopPage struct {
	Phone  string
	Answer *screenPopAnswer
	NoView bool
}

// screenPop looks a number up as an agent's screen would: it asks the
// call center's own screen-pop route, in-process, with the viewer's
// session, so the page shows exactly what the API answers.
func (c *Console) screenPop(w http.ResponseWriter, r *http.Request) {
	data := screenPopPage{Phone: strings.TrimSpace(r.URL.Query().Get("phone"))}
	if data.Phone == "" {
		c.Render(w, r, "screenpop", "Screen-pop", data)
		return
	}
	sub := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/api/v1/screenpop?phone="+url.QueryEscape(data.Phone), nil)
	sub.RemoteAddr = r.RemoteAddr
	for _, ck := range r.Cookies() {
		sub.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.Server.Handler().ServeHTTP(rec, sub)
	switch rec.Code {
	case http.StatusOK:
		var a screenPopAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			c.render(w, r, http.StatusBadGateway, "screenpop", "Screen-pop", data, "", "read the screen-pop: "+err.Error())
			return
		}
		data.Answer = &a
	case http.StatusNotFound:
		data.NoView = true
	default:
		c.render(w, r, rec.Code, "screenpop", "Screen-pop", data, "", "screen-pop answered "+http.StatusText(rec.Code)+": "+strings.TrimSpace(rec.Body.String()))
		return
	}
	c.Render(w, r, "screenpop", "Screen-pop", data)
}
