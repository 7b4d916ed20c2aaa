package dockercli

import (
	"encoding/csv"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEngineArgs(t *testing.T) {
	if diff := cmp.Diff([]string{"info", "--format", `{{.NCPU}}{{"\t"}}{{.MemTotal}}`}, InfoArgs()); diff != "" {
		t.Errorf("InfoArgs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cp", "-", "luzia-x:/workspace/d"}, CpInArgs("luzia-x", "/workspace/d")); diff != "" {
		t.Errorf("CpInArgs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cp", "luzia-x:/workspace/d", "-"}, CpOutArgs("luzia-x", "/workspace/d")); diff != "" {
		t.Errorf("CpOutArgs (-want +got):\n%s", diff)
	}
}

func TestBindMount(t *testing.T) {
	for _, src := range []string{"/srv/p", "/srv/a,b", `/srv/q"x`, "/srv/new\nline"} {
		got := BindMount(src, "/workspace")
		// docker reads --mount as one CSV record.
		fields, err := csv.NewReader(strings.NewReader(got)).Read()
		if err != nil {
			t.Fatalf("BindMount(%q) = %q: not CSV: %v", src, got, err)
		}
		want := []string{"type=bind", "source=" + src, "target=/workspace"}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("BindMount(%q) = %q (-want +got):\n%s", src, got, diff)
		}
	}
	if got := BindMount("/srv/p", "/workspace"); got != "type=bind,source=/srv/p,target=/workspace" {
		t.Errorf("plain BindMount = %q", got)
	}
}

func TestClassifyBindSource(t *testing.T) {
	text := `docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /srv/p.`
	if err := Classify(text); !errors.Is(err, ErrBindSource) {
		t.Errorf("Classify = %v, want ErrBindSource", err)
	}
}
