package callcenter

import (
	"fmt"
	"sync"

	"github.com/crmhub/hub/connectors"
)

// The kinds this package declares.
const (
	KindScreenpop = "screenpop"
	KindCalls     = "calls"
)

// Register registers kinds "screenpop" and "calls" with their settings
// specs. The two share a table of the screenpop connectors this registry
// builds, by name, in which a calls connector finds its view at Start.
func Register(r *connectors.Registry) error {
	vs := &views{byName: map[string]*View{}}
	sp, err := connectors.Declare(KindScreenpop, "the call center's screen-pop: an in-memory index of customers by phone number, caller id for PBXs, agent push",
		func(p connectors.Params, cfg ScreenpopConfig) (*View, error) {
			v, err := NewView(p, cfg)
			if err == nil {
				vs.put(p.Name, v)
			}
			return v, err
		})
	if err != nil {
		return err
	}
	calls, err := connectors.Declare(KindCalls, "call events (a JSON event, Twilio voice webhooks, Asterisk's manager interface) to a call log of interactions",
		func(p connectors.Params, cfg CallsConfig) (*Calls, error) { return NewCalls(p, cfg, vs.get) })
	if err != nil {
		return err
	}
	if err := r.Register(sp); err != nil {
		return err
	}
	return r.Register(calls)
}

// views are the screenpop connectors one registry built, by name: the
// last built under a name is the one a plan runs.
type views struct {
	mu     sync.Mutex
	byName map[string]*View
}

func (vs *views) put(name string, v *View) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	vs.byName[name] = v
}

func (vs *views) get(name string) (*View, error) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	v, ok := vs.byName[name]
	if !ok {
		return nil, fmt.Errorf("connector %q is not a screenpop connector of this hub (view names one)", name)
	}
	return v, nil
}
