package bridge

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

func TestParseTaskWait(t *testing.T) {
	tests := []struct {
		in, kind, str, err string
	}{
		{in: "", kind: WaitIdle, str: "idle"},
		{in: "idle", kind: WaitIdle, str: "idle"},
		{in: "exit", kind: WaitExit, str: "exit"},
		{in: "prompt:^agent> $", kind: WaitPrompt, str: "prompt:^agent> $"},
		{in: "prompt:a:b", kind: WaitPrompt, str: "prompt:a:b"},
		{in: "prompt:", err: "give a regular expression"},
		{in: "prompt:(", err: "invalid wait prompt regular expression"},
		{in: "Idle", err: "want idle, exit or prompt:REGEX"},
		{in: "exit:0", err: "want idle, exit or prompt:REGEX"},
	}
	for _, tt := range tests {
		w, err := ParseTaskWait(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTaskWait(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTaskWait(%q): %v", tt.in, err)
			continue
		}
		if w.Kind != tt.kind || w.String() != tt.str {
			t.Errorf("ParseTaskWait(%q) = %s %q, want %s %q", tt.in, w.Kind, w.String(), tt.kind, tt.str)
		}
	}
	// ^ and $ match at line ends.
	w, _ := ParseTaskWait("prompt:^agent> $")
	if !w.Regex.MatchString("done\nagent> \n") {
		t.Error("prompt regex does not match at a line end")
	}
}

func TestDefaultTaskMessage(t *testing.T) {
	tests := []struct{ prompt, agent, want string }{
		{"fix the bug", "claude", "task: fix the bug"},
		{"  first line\nsecond line", "claude", "task: first line"},
		{"", "bash agent.sh", "task: bash agent.sh"},
		{strings.Repeat("é", 80), "a", "task: " + strings.Repeat("é", 71) + "…"},
	}
	for _, tt := range tests {
		if got := defaultTaskMessage(tt.prompt, tt.agent); got != tt.want {
			t.Errorf("defaultTaskMessage(%q, %q) = %q, want %q", tt.prompt, tt.agent, got, tt.want)
		}
	}
}

// pane is one scripted answer to a look: the state line's fields and rows.
type pane struct {
	cx, cy, hist int
	alt, dead    bool
	status       int
	rows         []string
}

func (p pane) output() string {
	b2i := map[bool]int{false: 0, true: 1}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d\t%d\t%d\t80\t24\t%d\t%d\t%d\t%%1\tbash\n", p.cx, p.cy, p.hist, b2i[p.alt], b2i[p.dead], p.status)
	for _, r := range p.rows {
		sb.WriteString(r + "\n")
	}
	return sb.String()
}

// fakeTmux answers each look with the next scripted pane, the last one
// forever, and records the argv of each call. A watcher (tmuxcli's bash
// loop) gets one pane per record until its context ends.
type fakeTmux struct {
	mu    sync.Mutex
	panes []pane
	calls [][]string
}

// newFakeTmux answers with panes. As with cli/cli's run stubs, a scripted
// pane that no look reached fails the test: it did not go the way it claims.
func newFakeTmux(t *testing.T, panes ...pane) *fakeTmux {
	f := &fakeTmux{panes: panes}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.panes) > 1 {
			t.Errorf("fakeTmux: %d scripted panes were never looked at", len(f.panes)-1)
		}
	})
	return f
}

func (f *fakeTmux) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.Args)
	f.mu.Unlock()
	if c.Args[0] != "bash" {
		fmt.Fprint(c.Stdout, f.next().output())
		return 0, nil
	}
	for {
		fmt.Fprint(c.Stdout, f.next().output()+"\x1e\n")
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (f *fakeTmux) next() pane {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.panes[0]
	if len(f.panes) > 1 {
		f.panes = f.panes[1:]
	}
	return p
}

func shot(p pane) screen {
	snap, err := tmuxcli.ParseScreen(p.output())
	if err != nil {
		panic(err)
	}
	return newScreen(snap)
}

func TestWaitAgent(t *testing.T) {
	prompt := regexp.MustCompile(`(?m)^agent> $`)
	// The prompt was typed on row 2 of a screen with 10 lines of history.
	typed := pane{cx: 12, cy: 2, hist: 10, rows: []string{"x", "y", "agent> fix it"}}
	working := pane{cx: 0, cy: 3, hist: 10, rows: []string{"x", "y", "agent> fix it", "working"}}
	// Scrolled by two lines: the typed row is now row 0.
	done := pane{cx: 7, cy: 3, hist: 12, rows: []string{"agent> fix it", "working", "done", "agent> "}}
	tests := []struct {
		name  string
		wait  TaskWait
		idle  time.Duration
		panes []pane
		want  waitOutcome
	}{
		{
			name:  "prompt after the typed row",
			wait:  TaskWait{Kind: WaitPrompt, Regex: prompt},
			panes: []pane{working, working, done},
			want:  waitOutcome{ok: true, ended: EndedMatched, match: "agent> "},
		},
		{
			// The typed row itself shows "agent> " followed by the text,
			// and rows above it show an old prompt: neither counts.
			name: "old prompts do not count",
			wait: TaskWait{Kind: WaitPrompt, Regex: regexp.MustCompile(`(?m)^agent>`)},
			panes: []pane{
				{cx: 0, cy: 3, hist: 10, rows: []string{"agent> ", "y", "agent> fix it", ""}},
			},
			want: waitOutcome{ended: EndedTimeout},
		},
		{
			name:  "idle",
			wait:  TaskWait{Kind: WaitIdle},
			idle:  150 * time.Millisecond,
			panes: []pane{working, done},
			want:  waitOutcome{ok: true, ended: EndedIdle},
		},
		{
			name:  "exit 0",
			wait:  TaskWait{Kind: WaitExit},
			panes: []pane{working, {cy: 4, hist: 10, dead: true, rows: []string{"bye"}}},
			want:  waitOutcome{ok: true, ended: EndedExited, status: ptr(0)},
		},
		{
			name:  "exit 3",
			wait:  TaskWait{Kind: WaitExit},
			panes: []pane{{dead: true, status: 3, rows: []string{"giving up"}}},
			want:  waitOutcome{ended: EndedExited, status: ptr(3)},
		},
		{
			name:  "exit before the prompt",
			wait:  TaskWait{Kind: WaitPrompt, Regex: prompt},
			panes: []pane{{dead: true, rows: []string{"bye"}}},
			want:  waitOutcome{ended: EndedExited, status: ptr(0)},
		},
		{
			name:  "timeout",
			wait:  TaskWait{Kind: WaitPrompt, Regex: prompt},
			panes: []pane{working},
			want:  waitOutcome{ended: EndedTimeout},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTmux(t, tt.panes...)
			s := &tmuxcli.Server{Runner: f}
			var lines []string
			// Long enough for any wait that ends; the timeouts are short.
			timeout := 5 * time.Second
			if tt.want.ended == EndedTimeout {
				timeout = 300 * time.Millisecond
			}
			o := TaskOptions{Session: "task", Wait: tt.wait, Idle: tt.idle, Timeout: timeout,
				Progress: func(_ time.Duration, line string) { lines = append(lines, line) }}
			got, err := waitAgent(context.Background(), s, o, shot(typed))
			if err != nil {
				t.Fatal(err)
			}
			if (got.why == nil) != got.ok {
				t.Errorf("ok=%v but why=%v", got.ok, got.why)
			}
			got.why, got.screen = nil, ""
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(waitOutcome{})); diff != "" {
				t.Errorf("waitAgent (-want +got):\n%s", diff)
			}
			if len(lines) == 0 {
				t.Error("no progress was reported")
			}
			// The wait is tmuxcli's: one watcher for all its looks; an
			// agent that ended before its prompt matched gets one more
			// look, at its whole history.
			want := 1
			if tt.wait.Kind == WaitPrompt && got.status != nil {
				want = 2
			}
			if len(f.calls) != want || f.calls[0][0] != "bash" {
				t.Errorf("calls = %q, want one watcher", f.calls)
			}
			if want == 2 && !strings.Contains(strings.Join(f.calls[1], " "), "-S - -E -") {
				t.Errorf("calls = %q, want a look at the whole history", f.calls)
			}
			// Every look is one tmux call of display-message and a
			// capture that keeps the trailing spaces programs wrote.
			for _, c := range f.calls {
				if !strings.Contains(strings.Join(c, " "), "display-message") || c[len(c)-1] != "-N" {
					t.Errorf("unexpected call %q", c)
				}
			}
		})
	}
}

func ptr(n int) *int { return &n }

func TestScreenSince(t *testing.T) {
	base := shot(pane{cx: 12, cy: 2, hist: 10, rows: []string{"a", "b", "agent> go"}})
	tests := []struct {
		name string
		now  pane
		want string
	}{
		{"nothing yet", pane{cy: 3, hist: 10, rows: []string{"a", "b", "agent> go", ""}}, ""},
		{"one line", pane{cy: 4, hist: 10, rows: []string{"a", "b", "agent> go", "out", ""}}, "out\n"},
		{"scrolled", pane{cy: 2, hist: 13, rows: []string{"out", "more", "agent> ", ""}}, "out\nmore\nagent> \n"},
		{"scrolled past the typed row", pane{cy: 1, hist: 40, rows: []string{"late", "agent> "}}, "late\nagent> \n"},
	}
	for _, tt := range tests {
		if got := shot(tt.now).since(base); got != tt.want {
			t.Errorf("%s: since = %q, want %q", tt.name, got, tt.want)
		}
	}
	// A full-screen program: the whole screen counts once it has changed.
	alt := shot(pane{alt: true, rows: []string{"> ", ""}})
	if got := alt.since(alt); got != "" {
		t.Errorf("unchanged full screen: since = %q, want nothing", got)
	}
	if got := shot(pane{alt: true, rows: []string{"answer", "> "}}).since(alt); got != "answer\n> \n" {
		t.Errorf("changed full screen: since = %q", got)
	}
}

// An agent that outlived the timeout: kept with KeepRunning, else C-c,
// and its session killed when it lives on.
func TestStopAgent(t *testing.T) {
	defer func(g time.Duration) { taskStopGrace = g }(taskStopGrace)
	taskStopGrace = 300 * time.Millisecond
	alive, dead := pane{rows: []string{"working"}}, pane{dead: true, status: 130}
	for _, tt := range []struct {
		name  string
		keep  bool
		panes []pane
		want  string
		verbs []string
	}{
		{"kept", true, []pane{alive}, StoppedKept, nil},
		{"ends on C-c", false, []pane{alive, dead}, StoppedInterrupted, []string{"send-keys", "if-shell"}},
		{"lives on", false, []pane{alive}, StoppedKilled, []string{"send-keys", "if-shell", "kill-session"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTmux(t, tt.panes...)
			s := &tmuxcli.Server{Runner: f}
			got := stopAgent(context.Background(), s, TaskOptions{Session: "task", KeepRunning: tt.keep})
			if got != tt.want {
				t.Errorf("stopAgent = %q, want %q", got, tt.want)
			}
			var verbs []string
			for _, c := range f.calls {
				v := c[6] // after tmux -u -f /dev/null -L NAME
				if len(verbs) == 0 || verbs[len(verbs)-1] != v {
					verbs = append(verbs, v)
				}
			}
			if diff := cmp.Diff(tt.verbs, verbs); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
