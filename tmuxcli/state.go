package tmuxcli

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// The states a pane's program can be in, as State reports them.
const (
	StateWorking = "working"
	StateIdle    = "idle"
	StateWaiting = "waiting"
	StateExited  = "exited"
)

// stateScript runs the tmux call and reads the foreground process group
// from /proc in the same process: one docker exec per answer.
//
//go:embed scripts/state.bash
var stateScript string

// stateFormat is the pane's line. The pid goes first because the script
// reads it with bash's read, which merges empty tab-separated fields; the
// command goes last because it may hold anything.
const stateFormat = "#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{window_activity}\t#{pane_tty}\t#{pane_id}\t#{pane_current_command}"

// stateHistory is how many lines above the screen the tail is looked for in.
const stateHistory = 100

// StateOptions tune State.
type StateOptions struct {
	// Idle is how long a pane must have printed nothing to be idle rather
	// than working; zero means 2 s.
	Idle time.Duration
	// Prompt, when set, makes the pane waiting when it matches one of the
	// last Lines non-blank lines of the screen.
	Prompt *regexp.Regexp
	// Lines is how many of the last non-blank lines Prompt is tried on;
	// zero means 3.
	Lines int
}

// PaneState is what a pane's program is doing.
type PaneState struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	// ExitStatus is set for an exited pane.
	ExitStatus *int   `json:"exit_status,omitempty"`
	PaneID     string `json:"pane_id"`
	// Command is the pane's foreground process.
	Command string `json:"command"`
	// QuietMS is how long the pane has printed nothing (to the second:
	// tmux keeps it in seconds); -1 when unknown.
	QuietMS int64 `json:"quiet_ms"`
	// Tail is the last non-blank lines of the screen.
	Tail string `json:"tail"`
}

// stateArgs is the argv of one state call: bash runs stateScript over the
// tmux argv (from Server.Argv) that prints the pane's line and its screen.
func stateArgs(tmuxArgv []string) []string {
	return append([]string{"bash", "-c", stateScript, "dockerbridge-state"}, tmuxArgv...)
}

// stateTmuxArgs is the tmux call the script runs. A dead pane gets its exit
// status collected first, as ScreenArgs does. The capture reaches into the
// history: a program that printed and died at once can leave a blank screen
// with its last words just above it.
func stateTmuxArgs(target string) []string {
	return []string{
		"if-shell", "-F", "-t", target, "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", target, stateFormat, ";",
		"capture-pane", "-p", "-J", "-t", target, "-S", "-" + strconv.Itoa(stateHistory),
	}
}

// stateRaw is what one state call saw.
type stateRaw struct {
	Now      int64
	FgPgid   string
	States   string // one letter per process of the foreground group
	Wchan    string
	Fd0      string
	FgComm   string
	Dead     bool
	Status   int
	Activity int64 // 0: unknown
	TTY      string
	PaneID   string
	Command  string
	Lines    []string
}

// parseState reads the script's output.
func parseState(out string) (stateRaw, error) {
	procLine, rest, _ := strings.Cut(out, "\n")
	p := strings.Split(procLine, "\t")
	if len(p) != 7 || p[0] != "proc" {
		return stateRaw{}, fmt.Errorf("tmux state: unreadable process line %q", procLine)
	}
	head, screen, _ := strings.Cut(rest, "\n")
	f := strings.SplitN(head, "\t", 7)
	if len(f) != 7 {
		return stateRaw{}, fmt.Errorf("tmux state: unreadable pane state %q", head)
	}
	r := stateRaw{FgPgid: p[2], States: p[3], Wchan: p[4], Fd0: p[5], FgComm: p[6],
		Dead: f[1] == "1", TTY: f[4], PaneID: f[5], Command: f[6], Lines: splitLines(screen)}
	r.Now, _ = strconv.ParseInt(p[1], 10, 64)
	r.Status, _ = strconv.Atoi(f[2])
	r.Activity, _ = strconv.ParseInt(f[3], 10, 64)
	return r, nil
}

// ttyWait classes where a process sleeps in the kernel: "read" is a read of
// a terminal, "poll" a select or poll (readline's way of waiting for a key),
// "" anything else. An event loop (epoll) is not counted: agents built on
// one sit in it while they work, too.
func ttyWait(wchan string) string {
	switch {
	case wchan == "n_tty_read" || wchan == "wait_woken":
		return "read"
	case strings.HasPrefix(wchan, "poll_schedule_timeout"), wchan == "do_select",
		wchan == "core_sys_select", wchan == "do_sys_poll":
		return "poll"
	}
	return ""
}

// decideState turns what a call saw into an answer. The order is the
// contract: a dead pane is exited; a matching --prompt is waiting; a
// foreground process that runs (or waits on the disk) is working; one that
// waits on the pane's terminal is waiting; a pane that printed within
// --idle is working; anything else is idle.
func decideState(r stateRaw, o StateOptions) PaneState {
	idle := o.Idle
	if idle <= 0 {
		idle = 2 * time.Second
	}
	n := o.Lines
	if n <= 0 {
		n = 3
	}
	lines := TrimBlank(r.Lines)
	if r.Dead {
		lines = TrimBlank(dropDeadNotice(lines))
	}
	var tail []string
	for i := len(lines) - 1; i >= 0 && len(tail) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			tail = append([]string{lines[i]}, tail...)
		}
	}
	s := PaneState{PaneID: r.PaneID, Command: r.Command, QuietMS: -1, Tail: Text(tail)}
	if r.FgComm != "" {
		s.Command = r.FgComm
	}
	if r.Activity > 0 && r.Now >= r.Activity {
		s.QuietMS = (r.Now - r.Activity) * 1000
	}
	switch {
	case r.Dead:
		st := r.Status
		s.State, s.ExitStatus, s.Command = StateExited, &st, r.Command
		s.Reason = fmt.Sprintf("the program exited with status %d", st)
	case o.Prompt != nil && o.Prompt.MatchString(s.Tail):
		s.State, s.Reason = StateWaiting, "the prompt matched"
	case strings.ContainsAny(r.States, "RD"):
		s.State, s.Reason = StateWorking, s.Command+" is running"
	case r.Fd0 != "" && r.Fd0 == r.TTY && ttyWait(r.Wchan) != "":
		s.State, s.Reason = StateWaiting, s.Command+" is reading the terminal"
	case s.QuietMS >= 0 && time.Duration(s.QuietMS)*time.Millisecond < idle:
		s.State, s.Reason = StateWorking, fmt.Sprintf("the screen changed %s ago", time.Duration(s.QuietMS)*time.Millisecond)
	default:
		s.State = StateIdle
		if s.QuietMS >= 0 {
			s.Reason = fmt.Sprintf("nothing printed for %s", time.Duration(s.QuietMS)*time.Millisecond)
		} else {
			s.Reason = "nothing printed"
		}
	}
	return s
}

// State answers what the program in session name is doing, in one call
// (one docker exec in a container): exited, waiting, working or idle.
func (s *Server) State(ctx context.Context, name string, o StateOptions) (PaneState, error) {
	raw, err := s.readState(ctx, name)
	if err != nil {
		return PaneState{}, err
	}
	return decideState(raw, o), nil
}

// readState is what one state call sees of session name.
func (s *Server) readState(ctx context.Context, name string) (stateRaw, error) {
	t := Target(name)
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	var out bytes.Buffer
	errb := dockercli.NewCapBuffer(16 << 10)
	argv := stateArgs(s.Argv(stateTmuxArgs(t)...))
	code, err := s.Runner.Run(cctx, dockercli.Cmd{Args: argv, Stdout: &out, Stderr: errb})
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return stateRaw{}, fmt.Errorf("tmux state: %w after %s", ErrTimeout, s.callTimeout())
		}
		return stateRaw{}, fmt.Errorf("tmux state: %w", err)
	}
	if code != 0 {
		text := errb.String()
		if _, prog, ok := strings.Cut(text, "dockerbridge-missing "); ok {
			return stateRaw{}, fmt.Errorf("tmux state: %s is not installed", strings.TrimSpace(prog))
		}
		return stateRaw{}, sessionErr(name, &Error{Verb: "state", Code: code, Stderr: text, Kind: classify(text)})
	}
	return parseState(out.String())
}

// readingTerminal tells from what /proc said whether the pane's foreground
// process is a shell blocked reading the pane's terminal, as a shell at its
// prompt is. known is false where /proc could not tell: no /proc (macOS),
// or a kernel that hides where processes sleep.
func readingTerminal(r stateRaw) (reading, known bool) {
	switch {
	case r.Dead || r.FgPgid == "" || r.TTY == "":
		return false, false
	case r.FgComm == "" || r.Wchan == "":
		// The foreground process ended while the script read /proc (a
		// short command the shell ran): the pane was not sitting still.
		return false, true
	case !IsShell(r.FgComm) || strings.ContainsAny(r.States, "RD"):
		return false, true
	case r.Fd0 != "" && r.Fd0 != r.TTY:
		// (No fd 0 at all: another user's process, whose fds are closed
		// to this one.)
		return false, true
	case r.Wchan == "0":
		// Asleep, but the kernel does not say where.
		return false, false
	}
	return ttyWait(r.Wchan) != "", true
}
