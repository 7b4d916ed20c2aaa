package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"dockerbridge/dockercli"

	"github.com/google/go-cmp/cmp"
)

func newTestReaper(t *testing.T, e *fakeEngine) *Reaper {
	t.Helper()
	return &Reaper{Docker: &dockercli.Client{Runner: e}, State: openTestState(t), Idle: 10 * time.Minute}
}

// Any number of idle containers costs three docker calls: one ps, one
// inspect, one stop of all of them.
func TestReapManyInOneStop(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	var names []string
	for i := range 20 {
		name := fmt.Sprintf("luzia-p%02d", i)
		names = append(names, name)
		e.add(name, true, time.Now().Add(-time.Hour), ProjectLabel+fmt.Sprintf("=p%02d", i))
		if i%2 == 0 { // half were used long ago, half never
			busy, err := r.State.Enter(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			busy.Leave()
			age(t, r.State, name)
		}
	}
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Stopped)
	want := ReapResult{Checked: 20, Stopped: names, Busy: []string{}, Active: []string{}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ps", "container inspect", "stop"}, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	stops := e.callsOf("stop")
	newest := slices.Clone(names) // ps lists the newest first
	slices.Reverse(newest)
	if diff := cmp.Diff(append([]string{"stop"}, newest...), stops[0]); diff != "" {
		t.Errorf("stop argv (-want +got):\n%s", diff)
	}
	for _, name := range names {
		if c, _ := e.Container(name); c.Running {
			t.Errorf("%s still running", name)
		}
	}
}

// Only what is idle by every measure is stopped: not a container in use, or
// used lately, or restarted lately; and only containers with the label are
// looked at.
func TestReapSkips(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	hourAgo := time.Now().Add(-time.Hour)

	e.add("luzia-active", true, hourAgo, ProjectLabel+"=active")
	busy, err := r.State.Enter(t.Context(), "luzia-active")
	if err != nil {
		t.Fatal(err)
	}
	busy.Leave()

	// An exec that began long ago and still runs, in another process.
	e.add("luzia-busy", true, hourAgo, ProjectLabel+"=busy")
	letGo := holdElsewhere(t, "enter", r.State.Dir(), "luzia-busy")
	age(t, r.State, "luzia-busy")

	e.add("luzia-restarted", true, time.Now().Add(-time.Minute), ProjectLabel+"=restarted")
	busy, _ = r.State.Enter(t.Context(), "luzia-restarted")
	busy.Leave()
	age(t, r.State, "luzia-restarted")

	e.add("luzia-idle", true, hourAgo, ProjectLabel+"=idle")
	e.add("luzia-nolabel", true, hourAgo)
	e.add("luzia-otherlabel", true, hourAgo, ProjectLabel+"x=y")
	e.add("luzia-stopped", false, hourAgo, ProjectLabel+"=stopped")

	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := ReapResult{
		Checked: 4,
		Stopped: []string{"luzia-idle"},
		Busy:    []string{"luzia-busy"},
		Active:  []string{"luzia-active", "luzia-restarted"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	wantCalls := [][]string{
		{"ps", "-a", "--filter", "label=" + ProjectLabel, "--no-trunc", "--format", `{{.Names}}\t{{.State}}\t{{.Label "` + ProjectLabel + `"}}`},
		{"container", "inspect", "--format", `{{.Name}}{{"\t"}}{{.State.StartedAt}}{{"\t"}}{{len .ExecIDs}}`, "luzia-idle", "luzia-restarted", "luzia-busy"},
		{"stop", "luzia-idle"},
	}
	if diff := cmp.Diff(wantCalls, e.Calls()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	for name, running := range map[string]bool{
		"luzia-active": true, "luzia-busy": true, "luzia-restarted": true, "luzia-idle": false,
		"luzia-nolabel": true, "luzia-otherlabel": true,
	} {
		if c, _ := e.Container(name); c.Running != running {
			t.Errorf("%s running %v, want %v", name, c.Running, running)
		}
	}

	// The reaper let go of everything: the busy exec can finish and a new
	// one start on the stopped container.
	letGo()
	for _, name := range []string{"luzia-busy", "luzia-idle"} {
		busy, err := r.State.Enter(t.Context(), name)
		if err != nil {
			t.Errorf("Enter %s after the reap: %v", name, err)
			continue
		}
		busy.Leave()
	}
}

// Nothing idle by activity: ps is the only call.
func TestReapNothingIdle(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	for _, name := range []string{"luzia-a", "luzia-b"} {
		e.add(name, true, time.Now().Add(-time.Hour), ProjectLabel+"=x")
		busy, err := r.State.Enter(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		busy.Leave()
	}
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReapResult{Checked: 2, Stopped: []string{}, Busy: []string{}, Active: []string{"luzia-b", "luzia-a"}}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ps"}, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
}

// A container removed between the ps and the inspect is skipped, and the
// others are still reaped.
func TestReapContainerGoneSincePs(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	e.add("luzia-a", true, time.Now().Add(-time.Hour), ProjectLabel+"=a")
	e.add("luzia-b", true, time.Now().Add(-time.Hour), ProjectLabel+"=b")
	e.fail("ps", 1, 0, "") // ps prints nothing this time: feed it by hand
	r.Docker.Runner = psThen{e, "luzia-a\trunning\ta\nluzia-b\trunning\tb\nluzia-gone\trunning\tgone\n"}
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"luzia-a", "luzia-b"}, res.Stopped); diff != "" {
		t.Errorf("stopped (-want +got):\n%s", diff)
	}
}

// psThen answers ps with a fixed list and passes every other call on.
type psThen struct {
	*fakeEngine
	list string
}

func (p psThen) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	code, err := p.fakeEngine.Run(ctx, c)
	if len(c.Args) > 1 && c.Args[1] == "ps" && c.Stdout != nil {
		io.WriteString(c.Stdout, p.list)
	}
	return code, err
}

func TestReapDaemonDown(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	e.fail("ps", 1, 1, daemonDownText)
	if _, err := r.Reap(t.Context()); !errors.Is(err, dockercli.ErrDaemon) {
		t.Errorf("err = %v, want ErrDaemon", err)
	}
}

// An exec the engine runs makes a container busy even when the state
// directory knows nothing of it (a caller with another state directory).
func TestReapExecInFlightElsewhere(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	e.add("luzia-x", true, time.Now().Add(-time.Hour), ProjectLabel+"=x")
	e.add("luzia-y", true, time.Now().Add(-time.Hour), ProjectLabel+"=y")
	other := newTestBridge(t, e) // project x, its own state directory
	done := make(chan error, 1)
	go func() {
		_, err := other.Exec(t.Context(), "until [ -e /workspace/release ]; do sleep 0.05; done", ExecOptions{Timeout: time.Minute})
		done <- err
	}()
	for c, _ := e.Container("luzia-x"); c.Execs() == 0; c, _ = e.Container("luzia-x") {
		time.Sleep(10 * time.Millisecond) // until the engine counts the exec
	}
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := ReapResult{Checked: 2, Stopped: []string{"luzia-y"}, Busy: []string{"luzia-x"}, Active: []string{}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(e.ws, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("exec: %v", err)
	}
	if diff := cmp.Diff([]string{"exec bash", "ps", "container inspect", "stop"}, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
}

// The reaper touches only names with its prefix, and with a list of
// projects exactly prefix+project; AnyPrefix widens it to the label alone.
func TestReapPrefixScope(t *testing.T) {
	for _, tc := range []struct {
		name      string
		projects  []string
		anyPrefix bool
		want      []string
	}{
		{"prefix", nil, false, []string{"luzia-p7", "luzia-q"}},
		{"prefix and list", []string{"p7"}, false, []string{"luzia-p7"}},
		{"any prefix", nil, true, []string{"luzia-p7", "luzia-q", "probex-p7"}},
		{"any prefix and list", []string{"p7"}, true, []string{"luzia-p7", "probex-p7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine(t)
			r := newTestReaper(t, e)
			r.Prefix, r.Projects, r.AnyPrefix = DefaultPrefix, tc.projects, tc.anyPrefix
			hourAgo := time.Now().Add(-time.Hour)
			e.add("luzia-p7", true, hourAgo, ProjectLabel+"=p7")
			e.add("probex-p7", true, hourAgo, ProjectLabel+"=p7")
			e.add("luzia-q", true, hourAgo, ProjectLabel+"=q")
			res, err := r.Reap(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(res.Stopped)
			if diff := cmp.Diff(tc.want, res.Stopped); diff != "" {
				t.Errorf("stopped (-want +got):\n%s", diff)
			}
		})
	}
}

// A dry run stops nothing, says how long each has been idle, and leaves
// the activity lock free.
func TestReapDryRun(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	now := time.Now()
	r.Now = func() time.Time { return now }
	r.DryRun = true
	e.add("luzia-a", true, now.Add(-2*time.Hour), ProjectLabel+"=a")
	e.add("luzia-b", true, now.Add(-3*time.Hour), ProjectLabel+"=b")
	busy, _ := r.State.Enter(t.Context(), "luzia-b")
	busy.Leave()
	old := now.Add(-90 * time.Minute)
	if err := os.Chtimes(filepath.Join(r.State.Dir(), "luzia-b.activity"), old, old); err != nil {
		t.Fatal(err)
	}
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := ReapResult{Checked: 2, Stopped: []string{}, Busy: []string{}, Active: []string{}, DryRun: true,
		WouldStop: []IdleSummary{{"luzia-b", 5400}, {"luzia-a", 7200}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ps", "container inspect"}, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	if c, _ := e.Container("luzia-a"); !c.Running {
		t.Error("a dry run stopped luzia-a")
	}
	release, err := r.State.Claim("luzia-a")
	if err != nil {
		t.Fatalf("the dry run kept the claim: %v", err)
	}
	release()
}

// The state files of containers that are gone are removed, unless they are
// in use, recent, or out of the reaper's scope.
func TestReapForgetsGone(t *testing.T) {
	e := newFakeEngine(t)
	r := newTestReaper(t, e)
	r.Prefix = DefaultPrefix
	e.add("luzia-here", false, time.Now().Add(-time.Hour), ProjectLabel+"=here")
	for _, name := range []string{"luzia-here", "luzia-gone", "luzia-held", "luzia-recent", "other-gone"} {
		busy, err := r.State.Enter(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		busy.Leave()
		if name != "luzia-recent" {
			age(t, r.State, name)
		}
	}
	unlock, err := r.State.Lock(t.Context(), "luzia-gone")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := os.Chtimes(filepath.Join(r.State.Dir(), "luzia-gone.lock"), longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	letGo := holdElsewhere(t, "enter", r.State.Dir(), "luzia-held")
	defer letGo()
	age(t, r.State, "luzia-held")
	res, err := r.Reap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"luzia-gone"}, res.Forgotten); diff != "" {
		t.Errorf("forgotten (-want +got):\n%s", diff)
	}
	left := r.State.Names()
	slices.Sort(left)
	if diff := cmp.Diff([]string{"luzia-held", "luzia-here", "luzia-recent", "other-gone"}, left); diff != "" {
		t.Errorf("state files left (-want +got):\n%s", diff)
	}
}
