package bridge

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// text runs a WriteText-like function and returns what it wrote.
func text(t *testing.T, write func(w *bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

func TestStatusWriteText(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Status
		want string
	}{
		{"running", Status{Running: true, Exists: true, Name: "db-p", ContainerID: "abc", Image: "img", User: "1000:1000",
			Workspace: "/src/p", StartedAt: "then", LastActivity: "now", Engine: "ctx1"}, lines(
			"engine:        ctx1",
			"db-p running (id abc, image img, user 1000:1000)",
			"workspace:     /src/p",
			"started:       then",
			"last activity: now")},
		{"restarting", Status{Exists: true, Name: "db-p", State: "restarting"},
			lines("db-p restarting: its main process keeps exiting (see `docker logs db-p`)")},
		{"paused", Status{Exists: true, Name: "db-p", State: "paused"}, lines("db-p paused")},
		{"stopped", Status{Exists: true, Name: "db-p", Image: "img", Workspace: "/src/p", State: "exited"},
			lines("db-p stopped (image img, workspace /src/p)")},
		{"missing", Status{Name: "db-p"}, lines("db-p does not exist")},
		{"proxy up", Status{Exists: true, Name: "db-p", State: "exited", Image: "i", Workspace: "w", Egress: "allow=x:443", EgressProxy: "running"},
			lines("db-p stopped (image i, workspace w)", "egress:        allow=x:443 (proxy running)")},
		{"proxy down", Status{Name: "db-p", Egress: "allow=x:443", EgressProxy: "exited"}, lines("db-p does not exist",
			"egress:        allow=x:443, but its proxy is exited: no connection out (start it with `docker start db-p"+ProxySuffix+"`, or stop and start the container)")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := text(t, func(w *bytes.Buffer) error { return tc.st.WriteText(w) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestTablesAddEngineOnFleet(t *testing.T) {
	rows := []StatusRow{{Engine: "e1", Name: "db-a", Project: "a", State: "running", Status: "Up 2m", LastActivity: "now"},
		{Engine: "e2", Name: "db-bb", Project: "bb", State: "exited", Status: "Exited (0)"}}
	got := text(t, func(w *bytes.Buffer) error { return WriteStatusRows(w, rows, false) })
	want := lines(
		"NAME   PROJECT  STATE    STATUS      LAST ACTIVITY",
		"db-a   a        running  Up 2m       now",
		"db-bb  bb       exited   Exited (0)  -")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status rows (-want +got)\n%s", diff)
	}
	got = text(t, func(w *bytes.Buffer) error { return WriteStatusRows(w, rows, true) })
	want = lines(
		"NAME   PROJECT  ENGINE  STATE    STATUS      LAST ACTIVITY",
		"db-a   a        e1      running  Up 2m       now",
		"db-bb  bb       e2      exited   Exited (0)  -")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fleet status rows (-want +got)\n%s", diff)
	}
	list := []Container{{Name: "db-a", Project: "a", Status: "Up", Created: "today", Engine: "e1"}}
	got = text(t, func(w *bytes.Buffer) error { return WriteContainers(w, list, true) })
	want = lines("NAME  PROJECT  ENGINE  STATUS  CREATED", "db-a  a        e1      Up      today")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fleet ps (-want +got)\n%s", diff)
	}
	got = text(t, func(w *bytes.Buffer) error { return WriteContainers(w, list, false) })
	want = lines("NAME  PROJECT  STATUS  CREATED", "db-a  a        Up      today")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ps (-want +got)\n%s", diff)
	}
}

func TestReapWriteText(t *testing.T) {
	res := ReapResult{Checked: 4, Stopped: []string{"db-a"}, Active: []string{"db-b"}, Busy: []string{"db-c", "db-d"}}
	got := text(t, func(w *bytes.Buffer) error { return res.WriteText(w) })
	if diff := cmp.Diff(lines("stopped db-a", "4 checked, 1 stopped, 1 active, 2 busy"), got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	dry := ReapResult{Checked: 2, DryRun: true, WouldStop: []IdleSummary{{"db-a", 42}, {"db-b", 3*3600 + 25*60 + 7}}}
	got = text(t, func(w *bytes.Buffer) error { return dry.WriteText(w) })
	want := lines("would stop db-a (idle 42s)", "would stop db-b (idle 3h25m)", "2 checked, 2 would stop, 0 active, 0 busy")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry run (-want +got)\n%s", diff)
	}
}

func TestFleetReapNamesEngines(t *testing.T) {
	e1 := ReapResult{Checked: 1, Stopped: []string{"db-a"}}
	e2 := ReapResult{Checked: 1, WouldStop: []IdleSummary{{"db-b", 90}}}
	f := FleetReap{ReapResult: ReapResult{Checked: 2, Stopped: []string{"db-a"}, WouldStop: []IdleSummary{{"db-b", 90}}},
		Engines: []EngineReap{{Engine: "e1", ReapResult: &e1}, {Engine: "e2", ReapResult: &e2}, {Engine: "down", Error: "no answer"}}}
	got := text(t, func(w *bytes.Buffer) error { return f.WriteText(w) })
	want := lines("stopped db-a on e1", "would stop db-b on e2 (idle 1m)", "2 checked, 1 stopped, 0 active, 0 busy")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got = text(t, func(w *bytes.Buffer) error { return f.WriteRound(w, at, 30*time.Minute, true) })
	want = lines(
		"2026-01-02T03:04:05Z stopped db-a on e1 (idle over 30m0s)",
		"2026-01-02T03:04:05Z would stop db-b on e2 (idle 1m)",
		"2026-01-02T03:04:05Z reap: 2 checked, 1 stopped, 0 active, 0 busy")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round (-want +got)\n%s", diff)
	}
	one := FleetReap{ReapResult: e1}
	got = text(t, func(w *bytes.Buffer) error { return one.WriteRound(w, at, time.Hour, false) })
	if diff := cmp.Diff(lines("2026-01-02T03:04:05Z stopped db-a (idle over 1h0m0s)"), got); diff != "" {
		t.Errorf("quiet round on one engine (-want +got)\n%s", diff)
	}
}

func TestGitResultsWriteText(t *testing.T) {
	snap := SnapshotResult{ID: 3, SHA: "0123456789abcdef", Files: 1, Initialized: true}
	got := text(t, func(w *bytes.Buffer) error { return snap.WriteText(w) })
	want := lines("initialized a git repository in /workspace (it was not one)", "snapshot 3 0123456789ab (1 file)")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got)\n%s", diff)
	}
	got = text(t, func(w *bytes.Buffer) error {
		return WriteSnapshots(w, []SnapshotInfo{{ID: 1, SHA: "abc", Time: "t1", Message: "first"}, {ID: 12, SHA: "0123456789abcdef", Time: "t2", Message: "m"}})
	})
	want = lines("ID  SHA           TIME  MESSAGE", "1   abc           t1    first", "12  0123456789ab  t2    m")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot ls (-want +got)\n%s", diff)
	}
	com := CommitResult{Committed: true, SHA: "fedcba9876543210", FilesChanged: 2, Insertions: 1, Deletions: 0}
	got = text(t, func(w *bytes.Buffer) error { return com.WriteText(w) })
	if diff := cmp.Diff(lines("committed fedcba987654: 2 files changed, 1 insertion(+), 0 deletions(-)"), got); diff != "" {
		t.Errorf("commit (-want +got)\n%s", diff)
	}
	got = text(t, func(w *bytes.Buffer) error { return CommitResult{}.WriteText(w) })
	if diff := cmp.Diff(lines("nothing to commit"), got); diff != "" {
		t.Errorf("empty commit (-want +got)\n%s", diff)
	}
	res := RestoreResult{Written: 1, Removed: 2, Undo: SnapshotResult{ID: 7}, asked: "4"}
	got = text(t, func(w *bytes.Buffer) error { return res.WriteText(w) })
	want = lines("restored snapshot 4: 1 file written, 2 removed", "the state before is snapshot 7 (undo with: dockerbridge snapshot restore 7)")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restore (-want +got)\n%s", diff)
	}
}

func TestTaskReportWriteText(t *testing.T) {
	status := 0
	rep := TaskReport{Success: true, Agent: "claude", Session: "agent", Started: true, SnapshotID: 2, SnapshotSHA: "0123456789abcdef",
		Wait: "exit", Ended: "exited", ExitStatus: &status, Committed: true, CommitSHA: "fedcba9876543210", FilesChanged: 1, Insertions: 3, Deletions: 1,
		DurationMS: 2500, WaitMS: 2000, Transcript: "/t/agent.log", Restore: "dockerbridge snapshot restore 2", Screen: "$ done\n"}
	got := text(t, func(w *bytes.Buffer) error { return rep.WriteText(w) })
	want := lines(
		"agent:    claude (tmux session agent, started)",
		"snapshot: 2 0123456789ab",
		"wait:     exit: exited with status 0 after 2s",
		"commit:   fedcba987654: 1 file changed, 3 insertions(+), 1 deletion(-)",
		"duration: 2.5s",
		"log:      /t/agent.log (tmux log agent)",
		"undo:     dockerbridge snapshot restore 2",
		"--- last screen ---",
		"$ done")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("committed (-want +got)\n%s", diff)
	}
	rep = TaskReport{Agent: "a", Session: "s", Reused: true, Initialized: true, SnapshotID: 1, SnapshotSHA: "ab", Wait: "prompt", Ended: "timeout",
		Match: "", Stopped: StoppedKept, Error: "the agent outlived the timeout", Restore: "r", Screen: ""}
	got = text(t, func(w *bytes.Buffer) error { return rep.WriteText(w) })
	want = lines(
		"agent:    a (tmux session s, reused)",
		"snapshot: 1 ab (initialized a git repository in /workspace)",
		"wait:     prompt: timeout after 0s",
		"commit:   none: the agent outlived the timeout",
		"stopped:  no, kept running (--keep-running)",
		"duration: 0s",
		"undo:     r",
		"--- last screen ---")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept running (-want +got)\n%s", diff)
	}
	rep = TaskReport{Success: true, Agent: "a", Session: "s", Wait: "prompt", Ended: "matched", Match: "done>", Stopped: StoppedInterrupted, Restore: "r"}
	got = text(t, func(w *bytes.Buffer) error { return rep.WriteText(w) })
	for _, line := range []string{"wait:     prompt: matched \"done>\" after 0s\n", "commit:   none (nothing to commit, or --no-commit)\n", "stopped:  " + StoppedInterrupted + "\n", "(tmux session s, not started)"} {
		if !strings.Contains(got, line) {
			t.Errorf("no %q in\n%s", line, got)
		}
	}
}

func TestJobsWriteText(t *testing.T) {
	three := 3
	jobs := []Job{{Name: "build", State: JobExited, ExitCode: &three, PID: 40, Started: "t", Command: "make"},
		{Name: "srv", State: JobRunning, PID: 7, Started: "t2", Command: "serve"}}
	got := text(t, func(w *bytes.Buffer) error { return WriteJobs(w, jobs) })
	want := lines(
		"NAME   STATE     PID  STARTED  COMMAND",
		"build  exited 3  40   t        make",
		"srv    running   7    t2       serve")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestCopyResultWriteText(t *testing.T) {
	res := CopyResult{Source: "src", Dest: ":dst", Entries: 3, Bytes: 1024}
	got := text(t, func(w *bytes.Buffer) error { return res.WriteText(w) })
	if diff := cmp.Diff(lines("copied src to :dst (3 entries, 1024 bytes)"), got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
