package bridge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"dockerbridge/tmuxcli"
)

// A task is one agent run as a unit: ensure the container, snapshot the
// workspace, start (or reuse) a tmux session running the agent, type the
// prompt, wait, capture the screen, and commit with trailers that point back
// at the snapshot. Nothing is committed unless the wait ended well, and the
// report always names the snapshot that undoes the task.

// Wait kinds of a task.
const (
	WaitIdle   = "idle"
	WaitExit   = "exit"
	WaitPrompt = "prompt"
)

// How a task's wait ended.
const (
	EndedIdle    = "idle"
	EndedExited  = "exited"
	EndedMatched = "matched"
	EndedTimeout = "timeout"
	EndedFailed  = "failed"
)

// What became of an agent that outlived a task's timeout.
const (
	StoppedInterrupted = "interrupted"
	StoppedKilled      = "killed"
	StoppedKept        = "kept running"
)

// Task defaults.
const (
	DefaultTaskSession = "task"
	DefaultTaskIdle    = 5 * time.Second
	DefaultTaskTimeout = 30 * time.Minute
	// taskReady bounds the wait for a new agent to draw its first screen.
	taskReady = 10 * time.Second
	// taskPoll is the time between two looks at the agent's screen. One
	// watcher in the container makes them all, so they cost no docker exec.
	taskPoll = 100 * time.Millisecond
)

// taskStopGrace is how long an agent gets to end after C-c before its
// session is killed.
var taskStopGrace = 3 * time.Second

// taskCapture is how the task looks at the pane: the visible rows as they
// are, with the trailing spaces a program wrote (a prompt's "> ").
var taskCapture = tmuxcli.CaptureOptions{Rows: true, Trailing: true}

// TaskWait is a parsed --wait: idle, exit or prompt:REGEX.
type TaskWait struct {
	Kind  string
	Regex *regexp.Regexp // for prompt; ^ and $ match at line ends
}

// String gives the wait back as the flag takes it.
func (w TaskWait) String() string {
	if w.Kind == WaitPrompt && w.Regex != nil {
		return WaitPrompt + ":" + strings.TrimPrefix(w.Regex.String(), "(?m)")
	}
	return w.Kind
}

// ParseTaskWait reads "idle", "exit" or "prompt:REGEX" ("" is idle).
func ParseTaskWait(s string) (TaskWait, error) {
	switch {
	case s == "" || s == WaitIdle:
		return TaskWait{Kind: WaitIdle}, nil
	case s == WaitExit:
		return TaskWait{Kind: WaitExit}, nil
	case strings.HasPrefix(s, WaitPrompt+":"):
		expr := strings.TrimPrefix(s, WaitPrompt+":")
		if expr == "" {
			return TaskWait{}, errors.New("invalid wait prompt: give a regular expression after prompt:")
		}
		re, err := regexp.Compile("(?m)" + expr)
		if err != nil {
			return TaskWait{}, fmt.Errorf("invalid wait prompt regular expression: %w", err)
		}
		return TaskWait{Kind: WaitPrompt, Regex: re}, nil
	}
	return TaskWait{}, fmt.Errorf("invalid wait %q: want idle, exit or prompt:REGEX", s)
}

// TaskOptions shape one task.
type TaskOptions struct {
	// Agent is the command line of the agent, run by tmux through sh -c in
	// /workspace as the project user.
	Agent string
	// Prompt, when set, is typed into the agent as it is, then Enter.
	Prompt string
	Wait   TaskWait
	// Idle is how long the screen must stay unchanged for an idle wait.
	Idle time.Duration
	// Timeout bounds the wait.
	Timeout       time.Duration
	CommitMessage string
	NoCommit      bool
	// Session is the tmux session's name; a live one of that name is reused.
	Session string
	// Env is KEY=VALUE for a new session's agent.
	Env []string
	// Socket is the tmux server's socket name; "" is the default.
	Socket string
	// KeepRunning leaves an agent that outlived the timeout running;
	// otherwise it is interrupted (C-c), then killed if it lives on.
	KeepRunning bool
	// Progress, when set, is called after each look at the screen while
	// the task waits.
	Progress func(elapsed time.Duration, lastLine string)
}

// TaskReport is what a task did. On a failure nothing is committed and
// Restore says how to bring the workspace back to where it was.
type TaskReport struct {
	Success bool   `json:"success"`
	Agent   string `json:"agent"`
	Session string `json:"session"`
	Reused  bool   `json:"reused"`
	// Started: this task started the agent in a new session.
	Started     bool   `json:"started"`
	SnapshotID  int    `json:"snapshot_id"`
	SnapshotSHA string `json:"snapshot_sha"`
	// Initialized says the workspace was not a git repository: the
	// snapshot made one.
	Initialized bool   `json:"initialized"`
	Wait        string `json:"wait"`
	// Ended is how the wait ended: idle, exited, matched, timeout, failed.
	Ended      string `json:"ended"`
	ExitStatus *int   `json:"exit_status"`
	Match      string `json:"match,omitempty"`
	Committed  bool   `json:"committed"`
	CommitSHA  string `json:"commit_sha"`
	// The commit's counts; zero when nothing was committed.
	FilesChanged int   `json:"files_changed"`
	Insertions   int   `json:"insertions"`
	Deletions    int   `json:"deletions"`
	DurationMS   int64 `json:"duration_ms"`
	// WaitMS is the part of the duration spent waiting for the agent.
	WaitMS int64 `json:"wait_ms"`
	// Screen is the agent's last screen.
	Screen string `json:"screen"`
	// Transcript is where everything the agent printed is recorded, from
	// its start (tmux log SESSION prints it); "" for a reused session.
	Transcript string `json:"transcript,omitempty"`
	// Stopped says what became of an agent that outlived the timeout:
	// interrupted (it ended on C-c), killed (its session was killed after
	// C-c did not end it), or kept running (KeepRunning).
	Stopped string `json:"stopped,omitempty"`
	// Restore is the command that undoes the task.
	Restore string `json:"restore"`
	Error   string `json:"error,omitempty"`
}

// Task runs one agent task; see TaskOptions. The error is for a failure
// before the agent ran (no container, no snapshot) or an interrupt; how the
// agent's run ended is in the report, whose Success is false when nothing
// was committed because the run did not end well.
func (b *Bridge) Task(ctx context.Context, o TaskOptions) (rep TaskReport, err error) {
	start := time.Now()
	if strings.TrimSpace(o.Agent) == "" {
		return TaskReport{}, errors.New("task: no agent command given")
	}
	if o.Session == "" {
		o.Session = DefaultTaskSession
	}
	if err := tmuxcli.ValidateName(o.Session); err != nil {
		return TaskReport{}, fmt.Errorf("task: %w", err)
	}
	if o.Wait.Kind == "" {
		o.Wait.Kind = WaitIdle
	}
	if o.Idle <= 0 {
		o.Idle = DefaultTaskIdle
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTaskTimeout
	}
	agentLine := strings.Join(strings.Fields(o.Agent), " ")
	rep = TaskReport{Agent: o.Agent, Session: o.Session, Wait: o.Wait.String()}
	defer func() { rep.DurationMS = time.Since(start).Milliseconds() }()

	// Git gets the usual bound, not the task's (which may be short).
	g := *b
	g.cfg.Timeout = max(b.cfg.Timeout, DefaultTimeout)
	s := b.Tmux(o.Socket)

	// No explicit ensure: the snapshot's exec starts the container if it
	// has to, as every exec does. Meanwhile one look tells whether the
	// session runs already; an agent idle at its prompt changes nothing,
	// so that look is also the screen as it was before the prompt.
	type seen struct {
		sc  screen
		err error
	}
	first := make(chan seen, 1)
	go func() {
		sc, err := look(ctx, s, o.Session)
		first <- seen{sc, err}
	}()
	snap, err := g.Snapshot(ctx, "task: before "+agentLine)
	old := <-first
	if err != nil {
		return rep, fmt.Errorf("task: %w", err)
	}
	rep.SnapshotID, rep.SnapshotSHA, rep.Initialized = snap.ID, snap.SHA, snap.Initialized
	rep.Restore = "dockerbridge snapshot restore " + strconv.Itoa(snap.ID)

	fail := func(ended string, err error) (TaskReport, error) {
		rep.Ended = ended
		rep.Error = err.Error()
		return rep, nil
	}
	// The screen before the prompt: what follows the cursor's row, or any
	// change of a full-screen program, is the agent's answer.
	base := old.sc
	switch {
	case old.err == nil && !old.sc.snap.Dead:
		rep.Reused = true
	case old.err == nil || errors.Is(old.err, tmuxcli.ErrNoSession):
		// Only now, after the snapshot, may a new agent start writing.
		rep.Transcript = s.TranscriptPath(o.Session)
		if err := startAgent(ctx, s, o, old.err == nil); err != nil {
			// A program that ended at once leaves its pane: show why.
			var st *int
			if sc, lerr := look(context.WithoutCancel(ctx), s, o.Session); lerr == nil {
				rep.Screen = sc.said()
				if sc.snap.Dead && sc.snap.StatusKnown {
					st = &sc.snap.DeadStatus
				}
			}
			// An agent that printed its answer and ended before the
			// first look still answered: the wait reads what it printed.
			if st == nil || o.Wait.Kind != WaitPrompt || o.Prompt != "" {
				return fail(EndedFailed, startError(err, st, rep.Screen))
			}
		} else if base, err = look(ctx, s, o.Session); err != nil {
			return fail(EndedFailed, fmt.Errorf("watch the agent: %w", err))
		}
		rep.Started = true
	default:
		return fail(EndedFailed, fmt.Errorf("watch the agent: %w", old.err))
	}
	if !rep.Reused && o.Prompt == "" {
		// Everything a new agent prints is its answer: a match printed
		// before the first look counts.
		base = screen{snap: tmuxcli.Screen{CursorY: -1}}
	}
	if o.Prompt != "" {
		// Text and Enter go in separate docker execs, which already keeps
		// them apart for programs that drop an Enter arriving with a paste.
		if err := s.Send(ctx, o.Session, o.Prompt, tmuxcli.SendOptions{VerifyEnter: true}); err != nil {
			return fail(EndedFailed, fmt.Errorf("send the prompt: %w", err))
		}
	}
	waitStart := time.Now()
	w, werr := waitAgent(ctx, s, o, base)
	rep.WaitMS = time.Since(waitStart).Milliseconds()
	rep.Ended, rep.ExitStatus, rep.Match = w.ended, w.status, w.match
	rep.Screen = w.screen
	if errors.Is(werr, ErrInterrupted) {
		rep.Ended, rep.Error = EndedFailed, werr.Error()
		return rep, werr
	}
	if werr != nil {
		return fail(w.ended, werr)
	}
	if w.ended == EndedTimeout {
		rep.Stopped = stopAgent(ctx, s, o)
		return fail(w.ended, fmt.Errorf("%w; the agent %s", w.why, stoppedSays(rep.Stopped)))
	}
	if !w.ok {
		return fail(w.ended, w.why)
	}
	if o.NoCommit {
		rep.Success = true
		return rep, nil
	}
	msg := o.CommitMessage
	if msg == "" {
		msg = defaultTaskMessage(o.Prompt, agentLine)
	}
	res, err := g.Commit(ctx, msg, []string{"Task-Snapshot=" + snap.SHA, "Task-Agent=" + agentLine})
	if err != nil {
		return fail(rep.Ended, err)
	}
	rep.Success = true
	rep.Committed, rep.CommitSHA = res.Committed, res.SHA
	rep.FilesChanged, rep.Insertions, rep.Deletions = res.FilesChanged, res.Insertions, res.Deletions
	return rep, nil
}

// defaultTaskMessage is "task: " and the prompt's first line, else the agent.
func defaultTaskMessage(prompt, agent string) string {
	subject, _, _ := strings.Cut(strings.TrimSpace(prompt), "\n")
	if subject == "" {
		subject = agent
	}
	if r := []rune(subject); len(r) > 72 {
		subject = string(r[:71]) + "…"
	}
	return "task: " + subject
}

// startError says why a new agent did not start: the program's last words
// where its pane kept them, else what its status means.
func startError(err error, status *int, said string) error {
	if status == nil {
		return fmt.Errorf("the agent did not start: %w", err)
	}
	lines := strings.Split(strings.TrimRight(said, "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	switch {
	case last != "":
		return fmt.Errorf("the agent did not start: it exited with status %d: %s", *status, last)
	case *status == 127:
		return fmt.Errorf("the agent did not start: it exited with status 127: its program was not found")
	}
	return fmt.Errorf("the agent did not start: it exited with status %d and printed nothing", *status)
}

// stopAgent ends an agent that outlived the timeout, unless told to keep
// it: C-c first, as a person would, then, if it lives on, the session is
// killed (tmux hangs up its process group).
func stopAgent(ctx context.Context, s *tmuxcli.Server, o TaskOptions) string {
	if o.KeepRunning {
		return StoppedKept
	}
	ctx = context.WithoutCancel(ctx)
	if s.Interrupt(ctx, o.Session) == nil {
		deadline := time.Now().Add(taskStopGrace)
		for time.Now().Before(deadline) {
			sc, err := look(ctx, s, o.Session)
			if err != nil || sc.snap.Dead {
				return StoppedInterrupted
			}
			time.Sleep(taskPoll)
		}
	}
	if err := s.Kill(ctx, o.Session); err != nil && !errors.Is(err, tmuxcli.ErrNoSession) {
		return "not stopped (" + err.Error() + ")"
	}
	return StoppedKilled
}

// stoppedSays puts Stopped into the report's error line.
func stoppedSays(stopped string) string {
	switch stopped {
	case StoppedInterrupted:
		return "was interrupted (C-c) and ended"
	case StoppedKilled:
		return "was interrupted (C-c), lived on, and was killed"
	case StoppedKept:
		return "is still running (--keep-running)"
	}
	return "is " + stopped
}

// startAgent starts the agent in a new session, replacing a dead one of
// the same name (its program has ended; tmux keeps the pane for capture).
func startAgent(ctx context.Context, s *tmuxcli.Server, o TaskOptions, dead bool) error {
	if dead {
		if err := s.Kill(ctx, o.Session); err != nil && !errors.Is(err, tmuxcli.ErrNoSession) {
			return err
		}
	}
	_, _, err := s.New(ctx, tmuxcli.NewOptions{Name: o.Session, Command: o.Agent, Env: o.Env, Transcript: s.TranscriptPath(o.Session)}, taskReady)
	return err
}

// screen is one look at the agent's pane: the visible rows with the trailing
// spaces a program wrote (a prompt's "> " keeps its space), and where the
// cursor is.
type screen struct {
	snap tmuxcli.Screen
	hash [32]byte
}

func look(ctx context.Context, s *tmuxcli.Server, name string) (screen, error) {
	out, err := s.Output(ctx, tmuxcli.ScreenArgs(tmuxcli.Target(name), taskCapture)...)
	if err != nil {
		return screen{}, err
	}
	snap, err := tmuxcli.ParseScreen(out)
	if err != nil {
		return screen{}, err
	}
	return newScreen(snap), nil
}

// newScreen hashes what a look saw: the rows and the cursor.
func newScreen(snap tmuxcli.Screen) screen {
	h := sha256.New()
	fmt.Fprintf(h, "%d,%d,%t\n%s", snap.CursorX, snap.CursorY, snap.Alternate, strings.Join(snap.Lines, "\n"))
	sc := screen{snap: snap}
	h.Sum(sc.hash[:0])
	return sc
}

// row is the absolute number of a visible row: history lines come first.
func (sc screen) row(r int) int { return sc.snap.HistorySize + r }

// since is the text of the rows below base's cursor row: what was printed
// after the prompt was typed. A full-screen program redraws rather than
// scrolls, so there it is the whole screen once it differs from base.
func (sc screen) since(base screen) string { return sc.answer(base, "") }

// answer is since without the rest of the prompt: typed at base's cursor,
// a prompt longer than that row wraps onto the rows below, and a program
// that echoes what it reads fills them with it. Those rows, as they would
// read, are not the agent's answer.
func (sc screen) answer(base screen, prompt string) string {
	if sc.snap.Alternate || base.snap.Alternate {
		if sc.hash == base.hash {
			return ""
		}
		return tmuxcli.Text(tmuxcli.TrimBlank(sc.snap.Lines))
	}
	from := base.row(base.snap.CursorY) + 1
	echo := echoRows(prompt, base.snap.CursorX, base.snap.Width)
	var lines []string
	for r, line := range sc.snap.Lines {
		i := sc.row(r) - from
		if i < 0 || i < len(echo) && strings.TrimRight(line, " ") == strings.TrimRight(echo[i], " ") {
			continue
		}
		lines = append(lines, line)
	}
	return tmuxcli.Text(tmuxcli.TrimBlank(lines))
}

// echoRows are the rows below the cursor's that text, echoed from column x
// of a terminal w columns wide, fills: its wrapped rest and its further
// lines. One column per rune: a wide character makes them differ from the
// screen, which then keeps those rows.
func echoRows(text string, x, w int) []string {
	if text == "" || w <= 0 {
		return nil
	}
	var rows []string
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		r, col := []rune(line), 0
		if i == 0 {
			col = x
		}
		for first := true; first || len(r) > 0; first = false {
			n := min(len(r), max(w-col, 0))
			if i > 0 || !first {
				rows = append(rows, string(r[:n]))
			}
			r, col = r[n:], 0
		}
	}
	return rows
}

// lastLine is the screen's last non-blank row.
func (sc screen) lastLine() string {
	lines := tmuxcli.TrimBlank(sc.snap.Lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimRight(lines[len(lines)-1], " ")
}

type waitOutcome struct {
	ok     bool
	ended  string
	status *int
	match  string
	screen string
	why    error
}

// waitAgent watches the pane, with tmuxcli's watcher, until the wait is
// over. A program that ends is success only for an exit wait (or an idle
// one) with status 0.
func waitAgent(ctx context.Context, s *tmuxcli.Server, o TaskOptions, base screen) (waitOutcome, error) {
	start := time.Now()
	var last screen
	var since time.Time
	res, err := s.Watch(ctx, o.Session, tmuxcli.WaitOptions{Timeout: o.Timeout, Interval: taskPoll}, taskCapture,
		func(snap tmuxcli.Screen, at time.Time) (bool, string) {
			sc := newScreen(snap)
			prev := last
			last = sc
			if o.Progress != nil {
				o.Progress(at.Sub(start), sc.lastLine())
			}
			if snap.Dead {
				return false, "" // the watch ends on it: see below
			}
			switch o.Wait.Kind {
			case WaitPrompt:
				if text := sc.answer(base, o.Prompt); text != "" {
					if loc := o.Wait.Regex.FindStringIndex(text); loc != nil {
						return true, text[loc[0]:loc[1]]
					}
				}
			case WaitIdle:
				if since.IsZero() || sc.hash != prev.hash {
					since = at
				} else if at.Sub(since) >= o.Idle {
					return true, ""
				}
			}
			return false, ""
		})
	sc := newScreen(res.Last)
	switch {
	case res.Last.Dead:
		st := res.Last.DeadStatus
		w := waitOutcome{ended: EndedExited, status: &st, screen: sc.said()}
		switch {
		case o.Wait.Kind == WaitPrompt:
			// What it printed last may have scrolled off the screen
			// before it ended, or before the first look.
			if m, ok := matchAll(ctx, s, o, base); ok {
				w.ok, w.ended, w.match = true, EndedMatched, m
				break
			}
			w.why = fmt.Errorf("the agent exited with status %d before its prompt appeared", st)
		case st != 0:
			w.why = fmt.Errorf("the agent exited with status %d", st)
		default:
			w.ok = true
		}
		return w, nil
	case err != nil && ctx.Err() != nil:
		return waitOutcome{ended: EndedFailed, screen: sc.text()}, fmt.Errorf("task: %w", ErrInterrupted)
	case err != nil:
		return waitOutcome{ended: EndedFailed, screen: sc.text()}, fmt.Errorf("watch the agent: %w", err)
	case res.OK && o.Wait.Kind == WaitPrompt:
		return waitOutcome{ok: true, ended: EndedMatched, match: res.Match, screen: sc.text()}, nil
	case res.OK:
		return waitOutcome{ok: true, ended: EndedIdle, screen: sc.text()}, nil
	}
	return waitOutcome{ended: EndedTimeout, screen: sc.text(), why: fmt.Errorf("the agent did not finish within %s", o.Timeout)}, nil
}

// matchAll looks for the prompt in all the agent printed after base,
// history included.
func matchAll(ctx context.Context, s *tmuxcli.Server, o TaskOptions, base screen) (string, bool) {
	opts := taskCapture
	opts.All = true
	out, err := s.Output(context.WithoutCancel(ctx), tmuxcli.ScreenArgs(tmuxcli.Target(o.Session), opts)...)
	if err != nil {
		return "", false
	}
	all, err := tmuxcli.ParseScreen(out)
	if err != nil {
		return "", false
	}
	// Every row of the whole history: row i is absolute row i.
	all.HistorySize = 0
	text := screen{snap: all}.answer(base, o.Prompt)
	if loc := o.Wait.Regex.FindStringIndex(text); loc != nil {
		return text[loc[0]:loc[1]], true
	}
	return "", false
}

// said is what a dead pane's program printed: its rows down to the last
// non-blank one, without the line tmux adds when a pane dies nor the blank
// rows above it.
func (sc screen) said() string {
	lines := tmuxcli.TrimBlank(sc.snap.Lines)
	if n := len(lines); n > 0 && strings.HasPrefix(lines[n-1], "Pane is dead") {
		lines = tmuxcli.TrimBlank(lines[:n-1])
	}
	return tmuxcli.Text(lines)
}

// text is the screen as the report shows it: the rows, with the trailing
// spaces a program wrote, down to the last non-blank one.
func (sc screen) text() string {
	return tmuxcli.Text(tmuxcli.TrimBlank(sc.snap.Lines))
}
