package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

func run(t *testing.T, e *Engine, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := e.Run(ctx, dockercli.Cmd{Args: append([]string{"docker"}, args...), Stdout: &out, Stderr: &errOut})
	if err != nil && ctx.Err() == nil {
		t.Fatalf("docker %q: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// In process, the engine is the same model the scenarios drive: run makes
// a container, exec runs in its mount with paths mapped back, inspect's
// templates see it.
func TestEngineInProcess(t *testing.T) {
	e := New(t)
	ws := t.TempDir()
	ws, _ = filepath.EvalSymlinks(ws)
	if err := os.WriteFile(filepath.Join(ws, "f"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id, stderr, code := run(t, e, ctx, "run", "-d", "--name", "luzia-x", "--label", "luzia.project=x",
		"-v", ws+":/workspace", "-w", "/workspace", "luzia-sandbox:latest", "tail", "-f", "/dev/null")
	if code != 0 || len(strings.TrimSpace(id)) != 64 {
		t.Fatalf("run: %d %q %q", code, id, stderr)
	}
	if out, _, code := run(t, e, ctx, "exec", "luzia-x", "sh", "-c", "pwd; cat /workspace/f"); code != 0 || out != "/workspace\nhi\n" {
		t.Errorf("exec = %d %q, want /workspace and the file", code, out)
	}
	if out, _, _ := run(t, e, ctx, "container", "inspect", "--format", `{{.Name}} {{.State.Running}} {{index .Config.Labels "luzia.project"}}`, "luzia-x"); out != "/luzia-x true x\n" {
		t.Errorf("inspect = %q", out)
	}
	if _, stderr, code := run(t, e, ctx, "exec", "luzia-y", "true"); code != 1 || !strings.Contains(stderr, "No such container: luzia-y") {
		t.Errorf("exec in a missing container = %d %q", code, stderr)
	}
	if got := len(e.CallsOf("exec")); got != 2 {
		t.Errorf("%d exec calls, want 2", got)
	}
}

// A caller that gives up leaves the command running, as in a container:
// the exec stays listed until the command ends. The command waits for the
// test to let it go, so that it is still running when the test looks,
// however slow the machine.
func TestEngineExecOutlivesClient(t *testing.T) {
	e := New(t)
	ws := t.TempDir()
	c := Default("luzia-x", ws, time.Now())
	c.Start(time.Now())
	if err := e.Add(c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, dockercli.Cmd{Args: []string{"docker", "exec", "luzia-x", "sh", "-c",
			"touch started; while [ ! -e go ]; do sleep 0.01; done; touch ended"}})
		done <- err
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	exists := func(name string) func() bool {
		return func() bool { _, err := os.Stat(filepath.Join(ws, name)); return err == nil }
	}
	execs := func() int { got, _ := e.Container("luzia-x"); return got.Execs() }
	waitFor("the command did not start", exists("started"))
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the exec's client returned no error after its context ended")
	}
	if got := execs(); got != 1 {
		t.Errorf("%d execs in flight after the client went, want 1", got)
	}
	if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the command did not run on after its client went", exists("ended"))
	// Once the command has ended, the engine no longer lists its exec, and
	// the engine's last word on it lands before the test ends.
	waitFor("the exec is still listed after its command ended", func() bool { return execs() == 0 })
}

// recorder is a test that only records its errors and cleanups.
type recorder struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recorder) Cleanup(f func())             { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Error(args ...any)            { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, args ...any) { r.errs = append(r.errs, fmt.Sprintf(f, args...)) }
func (r *recorder) Helper()                      {}
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// A canned answer that no call took fails the test; one taken passes.
func TestEngineUnusedAnswerFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		canned Canned
		calls  int
		fails  bool
	}{
		{"one, unused", Canned{Verb: "ps", Exit: 1}, 0, true},
		{"one, used", Canned{Verb: "ps", Exit: 1}, 1, false},
		{"twice, used once", Canned{Verb: "ps", Exit: 1, Times: 2}, 1, true},
		{"always, unused", Canned{Verb: "ps", Exit: 1, Always: true}, 0, true},
		{"always, used", Canned{Verb: "ps", Exit: 1, Always: true}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			e := New(r)
			if err := e.Answer(tc.canned); err != nil {
				t.Fatal(err)
			}
			for range tc.calls {
				if _, _, code := run(t, e, t.Context(), "ps", "--format", "{{.Names}}"); code != 1 {
					t.Errorf("ps exit %d, want the canned 1", code)
				}
			}
			r.end()
			if got := len(r.errs) > 0; got != tc.fails {
				t.Errorf("test failed = %v (%q), want %v", got, r.errs, tc.fails)
			}
		})
	}
}
