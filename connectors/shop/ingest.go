package shop

import (
	"context"
	"net/http"

	"github.com/crmhub/hub/connectors"
)

// Take ingests recs in order, each entity's run in one call (a buyer
// before the order that references it), and builds the 200 reply once all
// are durable, or the 503 reply when one call fails.
func Take(ctx context.Context, in connectors.Ingest, recs []connectors.Record) Reply {
	rep := Reply{Status: http.StatusOK, Outcome: OutcomeAccepted}
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && recs[end].Entity == recs[start].Entity {
			end++
		}
		res, err := in.Ingest(ctx, recs[start].Entity, recs[start:end])
		if err != nil {
			return Unavailable(err)
		}
		for i, r := range res {
			rec := recs[start+i]
			rep.Records = append(rep.Records, Result{Entity: rec.Entity, Key: rec.Key, Outcome: r.Outcome.String(), HubID: r.HubID, Reason: r.Reason})
		}
		start = end
	}
	return rep
}
