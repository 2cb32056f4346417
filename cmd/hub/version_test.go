package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		main     string
		settings []debug.BuildSetting
		want     string
	}{
		{"(devel)", nil, "dev"},
		{"(devel)", setting("vcs.revision", "46af897b444a3b0dec2fac56cfcff3901ec3f940", "vcs.modified", "true"), "dev+46af897b444a-dirty"},
		{"v0.0.0-20261203172841-46af897b444a+dirty", setting("vcs.revision", "46af897b444a3b0dec2fac56cfcff3901ec3f940", "vcs.modified", "true"), "v0.0.0-20261203172841-46af897b444a+dirty"},
		{"v1.2.0", setting("vcs.revision", "46af897b444a3b0dec2fac56cfcff3901ec3f940"), "v1.2.0+46af897b444a"},
	} {
		info := &debug.BuildInfo{Main: debug.Module{Version: c.main}, Settings: c.settings}
		if got := versionOf(info); got != c.want {
			t.Errorf("versionOf(%s, %v) = %q, want %q", c.main, c.settings, got, c.want)
		}
	}
}
