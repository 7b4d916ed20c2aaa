package tmuxtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
	"dockerbridge/tmuxcli/tmuxtest"
)

// In process, the fake is the same tmux the scenarios drive: tmuxcli's own
// calls make, list, type into and kill a session.
func TestServerInProcess(t *testing.T) {
	dir := t.TempDir()
	s := &tmuxcli.Server{Runner: tmuxtest.Server{Dir: dir}}
	ctx := t.Context()
	if _, _, err := s.New(ctx, tmuxcli.NewOptions{Name: "w", Width: 80, Height: 24}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.New(ctx, tmuxcli.NewOptions{Name: "w"}, 0); !errors.Is(err, tmuxcli.ErrDuplicate) {
		t.Errorf("second new = %v, want ErrDuplicate", err)
	}
	panes, err := s.List(ctx)
	if err != nil || len(panes) != 1 || panes[0].Name != "w" || panes[0].Size != "80x24" {
		t.Fatalf("list = %+v, %v; want one 80x24 session w", panes, err)
	}
	if err := s.Send(ctx, "w", "ls", tmuxcli.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	typed, err := os.ReadFile(filepath.Join(dir, "typed.log"))
	if err != nil || !strings.Contains(string(typed), "ls") {
		t.Errorf("typed.log = %q, %v; want the text sent", typed, err)
	}
	if err := s.Kill(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(ctx, "w"); !errors.Is(err, tmuxcli.ErrNoSession) {
		t.Errorf("second kill = %v, want ErrNoSession", err)
	}
}

// A wait-for whose client gives up returns, and leaves the state usable.
func TestServerWaitForEndsWithItsClient(t *testing.T) {
	dir := t.TempDir()
	srv := tmuxtest.Server{Dir: dir}
	tmux := func(ctx context.Context, args ...string) (int, error) {
		return srv.Run(ctx, dockercli.Cmd{Args: append([]string{"tmux"}, args...)})
	}
	if code, err := tmux(t.Context(), "new-session", "-d", "-s", "w"); code != 0 || err != nil {
		t.Fatalf("new-session: %d, %v", code, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := tmux(ctx, "wait-for", "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait-for = %v, want the context's end", err)
	}
	if code, err := tmux(t.Context(), "kill-session", "-t", "=w"); code != 0 || err != nil {
		t.Errorf("kill-session after the wait: %d, %v", code, err)
	}
}
