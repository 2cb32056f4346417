package connectors

import (
	"fmt"
	"reflect"
)

// Declare declares a connector kind from its config struct C and its
// constructor, in one place: the kind's Spec is derived from C's tags
// (see Spec), its Capabilities from the connector type T that build
// returns, and its New
//
//  1. decodes the settings into a C (unknown keys and wrong types come
//     back as the decoder's located problems),
//  2. fills in the spec's defaults and checks required keys and allowed
//     values (Resolve),
//  3. calls build with the resolved config, even when step 2 found
//     problems, so that one run reports every bad key, and
//  4. returns the FieldErrors of steps 2 and 3 together (Merge), keys
//     relative to the settings block (entities.order.capture).
//
// An error means C's tags are wrong: a programming error, which a test
// over every shipped kind rules out.
func Declare[C any, T Connector](name, summary string, build func(p Params, cfg C) (T, error)) (Kind, error) {
	spec, err := SpecOf[C]()
	if err != nil {
		return Kind{}, fmt.Errorf("connectors: declare kind %s: %w", name, err)
	}
	return Kind{
		Name:         name,
		Summary:      summary,
		Spec:         spec,
		Capabilities: capabilitiesOf(reflect.TypeFor[T]()),
		New: func(p Params) (Connector, error) {
			cfg, err := Settings[C](p)
			if err != nil {
				return nil, err
			}
			errs := spec.resolve(reflect.ValueOf(&cfg).Elem())
			conn, err := build(p, cfg)
			if err := errs.Merge(err); err != nil {
				return nil, err
			}
			return conn, nil
		},
	}, nil
}

// capabilitiesOf names the capability interfaces t implements, in the
// order of the contract.
func capabilitiesOf(t reflect.Type) []string {
	var out []string
	for _, c := range []struct {
		name  string
		iface reflect.Type
	}{
		{"reader", reflect.TypeFor[Reader]()},
		{"pusher", reflect.TypeFor[Pusher]()},
		{"writer", reflect.TypeFor[Writer]()},
		{"scanner", reflect.TypeFor[Scanner]()},
		{"view", reflect.TypeFor[View]()},
	} {
		if t.Implements(c.iface) {
			out = append(out, c.name)
		}
	}
	return out
}
