package main

import (
	"runtime/debug"
	"testing"
)

// The version comes from the build: the module's version, else the commit
// and its date, marked when the tree had changes.
func TestVersionFrom(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201000738-4ac68ffa83ae+dirty"}}, "v0.0.0-20261201000738-4ac68ffa83ae+dirty"},
		{"commit", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "4ac68ffa83aec65688f0d9e2d916319730cad74c", "vcs.time", "2026-12-01T00:07:38Z", "vcs.modified", "false")}, "4ac68ffa83ae (2026-12-01T00:07:38Z)"},
		{"dirty commit", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "4ac68ffa83aec65688f0d9e2d916319730cad74c", "vcs.modified", "true")}, "4ac68ffa83ae-dirty"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev (no version or commit recorded in this build)"},
	} {
		if got := versionFrom(&tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
