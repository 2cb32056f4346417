package node

import (
	"slices"
	"testing"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/server"
)

// TestRouteAccess: a route's roles become the server's rule: the least
// ranked role named, call-center keys by name, viewer when none is named,
// and a role nobody has is a mistake in the connector.
func TestRouteAccess(t *testing.T) {
	tests := []struct {
		roles []string
		role  string
		also  []string
		fail  bool
	}{
		{nil, server.RoleViewer, nil, false},
		{[]string{"callcenter"}, "", []string{"callcenter"}, false},
		{[]string{"admin", "operator", "callcenter"}, server.RoleOperator, []string{"callcenter"}, false},
		{[]string{"viewer", "callcenter"}, server.RoleViewer, []string{"callcenter"}, false},
		{[]string{"root"}, "", nil, true},
	}
	for _, tt := range tests {
		a, err := routeAccess(connectors.Route{Pattern: "GET /api/v1/x", Roles: tt.roles, PlainErrors: true})
		if (err != nil) != tt.fail {
			t.Errorf("%v: err = %v, want failure %v", tt.roles, err, tt.fail)
			continue
		}
		if tt.fail {
			continue
		}
		if a.Role != tt.role || !slices.Equal(a.Also, tt.also) || !a.Plain {
			t.Errorf("%v: access = %+v, want role %q also %v, plain", tt.roles, a, tt.role, tt.also)
		}
	}
}
