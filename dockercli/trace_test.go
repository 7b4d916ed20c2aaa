package dockercli

import (
	"bytes"
	"context"
	"testing"
)

type recordRunner struct{ got [][]string }

func (r *recordRunner) Run(_ context.Context, c Cmd) (int, error) {
	r.got = append(r.got, c.Args)
	return 3, nil
}

// Trace writes each argv as a shell would take it back, then runs it and
// returns what its next runner returned.
func TestTrace(t *testing.T) {
	var w bytes.Buffer
	next := &recordRunner{}
	code, err := Trace{Next: next, W: &w}.Run(t.Context(), Cmd{Args: []string{"docker", "exec", "", "a b", "it's", "$X"}})
	if code != 3 || err != nil || len(next.got) != 1 {
		t.Fatalf("Run = %d, %v after %d calls; want 3, nil after 1", code, err, len(next.got))
	}
	if want := `+ docker exec '' 'a b' 'it'\''s' '$X'` + "\n"; w.String() != want {
		t.Errorf("trace %q, want %q", w.String(), want)
	}
}
