package tmuxcli

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWritePanes(t *testing.T) {
	two := 2
	panes := []Pane{
		{Name: "agent", PaneID: "%0", PID: 41, Command: "claude"},
		{Name: "build", PaneID: "%12", PID: 7, Dead: true, ExitStatus: &two, Command: "make"},
		{Name: "x", PaneID: "%3", PID: 9, Dead: true, Command: "sh"},
	}
	var buf bytes.Buffer
	if err := WritePanes(&buf, panes); err != nil {
		t.Fatal(err)
	}
	want := "NAME   PANE  PID  STATE          COMMAND\n" +
		"agent  %0    41   alive          claude\n" +
		"build  %12   7    dead (exit 2)  make\n" +
		"x      %3    9    dead           sh\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestPaneStateWriteText(t *testing.T) {
	one := 1
	for _, tc := range []struct {
		st   PaneState
		want string
	}{
		{PaneState{State: "idle", Reason: "quiet for 3s"}, "idle\tquiet for 3s\n"},
		{PaneState{State: "exited", Reason: "the program ended", ExitStatus: &one}, "exited 1\tthe program ended\n"},
	} {
		var buf bytes.Buffer
		if err := tc.st.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, buf.String()); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	}
}
