package tmuxcli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RunOptions tune Run.
type RunOptions struct {
	// Timeout bounds the wait; the command itself keeps running after it.
	Timeout time.Duration
	// Scrollback is how many lines above the screen the first capture
	// takes; a longer output costs one more call that takes everything.
	Scrollback int
	// Dir, when set, is where the command runs: in a subshell, so that the
	// session's shell keeps its own directory.
	Dir string
}

// DefaultScrollback is RunOptions.Scrollback's default.
const DefaultScrollback = 2000

// Run statuses.
const (
	StatusCompleted = "completed"
	StatusTimeout   = "timeout"
)

// RunResult is a command's output and exit code.
type RunResult struct {
	Output   string `json:"output"`
	ExitCode int    `json:"exit_code"`
	Status   string `json:"status"`
	// ShellExited: the command ended the shell (exit, set -e); ExitCode is
	// then the shell's.
	ShellExited bool `json:"shell_exited"`
	// Truncated: the start of the output has left the pane's history.
	Truncated bool `json:"truncated"`
	// Channel is the command's wait-for channel.
	Channel   string `json:"channel"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// Run types command into the shell of session name and waits for it on a
// wait-for channel of its own, in one tmux invocation (see runHookArgs). At
// a bash with the hook (every session tmux new makes) only the command is
// typed, so the screen shows the command and its output as a person would
// have seen them; at another shell the run script (markerScript) is typed. On a
// timeout the command keeps running; the result then has status "timeout",
// exit code -1 and the output so far. A pane that is not at a shell, or
// whose shell is away from its prompt (in a read builtin, waiting for a
// program it ran: see notAtPrompt), gets nothing typed into it and the
// error wraps ErrNotShell; ErrBusy too where the pane is alive.
func (s *Server) Run(ctx context.Context, name, command string, o RunOptions) (RunResult, error) {
	if err := ValidateTarget(name); err != nil {
		return RunResult{}, err
	}
	if o.Timeout <= 0 {
		return RunResult{}, errors.New("run: the timeout must be positive")
	}
	if o.Dir != "" {
		command = inDir(o.Dir, command)
	}
	scroll := o.Scrollback
	if scroll <= 0 {
		scroll = DefaultScrollback
	}
	t, id := Target(name), s.id()
	res := RunResult{ExitCode: -1, Channel: id}
	script := markerScript(command, id, signalCommand(s.Bin, s.socket(), id))
	// A final line break would sit in the line being edited: Enter ends it.
	typed := strings.TrimRight(command, "\n")
	stdin, args := strings.NewReader(typed), runHookArgs(t, id, s.id(), script, scroll)
	if len(script) > maxScriptArg || !hookable(typed) {
		stdin, args = strings.NewReader(script), runArgs(t, id, scroll)
	}
	start := time.Now()
	// The call waits on the channel until the command ends: it blocks.
	out, err := s.invoke(ctx, o.Timeout, stdin, args, true)
	res.ElapsedMS = time.Since(start).Milliseconds()
	if errors.Is(err, ErrTimeout) {
		res.Status = StatusTimeout
		snap, cerr := s.look(ctx, t, CaptureOptions{Lines: scroll}, 0)
		if cerr != nil {
			return res, sessionErr(name, cerr)
		}
		if p := parseRun(snap.Lines, id); p.Start {
			res.Output = p.Output
		} else {
			res.Output, _ = parseTyped(snap.Lines, "", typed, false)
		}
		return res, nil
	}
	if err != nil {
		return res, sessionErr(name, err)
	}
	if line, ok := strings.CutPrefix(out, busyMarker); ok {
		line, _, _ = strings.Cut(line, "\n")
		dead, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		prompt, cmd, _ := strings.Cut(rest, " ")
		if dead == "1" {
			return res, &kindError{fmt.Sprintf("tmux: session %s: its program has exited; run needs a shell", name), ErrNotShell}
		}
		if prompt == "0" && IsShell(cmd) {
			return res, &kindError{fmt.Sprintf("tmux: session %s is not at a shell prompt: %s is reading the terminal or running a program (send types into it; wait-shell waits for the prompt)", name, cmd), ErrBusy}
		}
		return res, &kindError{fmt.Sprintf("tmux: session %s is running %s, not waiting at a shell prompt (wait-shell waits for it, interrupt stops it)", name, cmd), ErrBusy}
	}
	hook, rest, ok := parseHookLine(out, id)
	if ok {
		out = rest
	}
	snap, err := ParseScreen(out)
	if err != nil {
		return res, err
	}
	if hook.Typed == "hook" {
		return s.finishHooked(ctx, name, typed, hook, snap, res)
	}
	p := parseRun(snap.Lines, id)
	if !p.Start {
		// The output is longer than the first capture: take it all.
		all, err := s.look(ctx, t, CaptureOptions{All: true}, 0)
		if err != nil {
			return res, sessionErr(name, err)
		}
		snap, p = all, parseRun(all.Lines, id)
		res.Truncated = !p.Start
	}
	output, code := p.Output, p.Code
	res.ShellExited = p.Exited
	if !p.End && snap.Dead {
		// Ended by the pane-died hook: the shell died without its trap.
		res.ShellExited = true
		code = snap.DeadStatus
		output = Text(dropDeadNotice(TrimBlank(strings.Split(strings.TrimSuffix(output, "\n"), "\n"))))
	}
	res.Status, res.Output, res.ExitCode = StatusCompleted, output, code
	if p.Exited && !snap.Dead {
		// The shell's EXIT trap reports before the shell is gone, and
		// until it is, the pane looks like a shell at its prompt: a run
		// right after this one would type into a dying shell, and ls
		// would call it alive. Return once the pane is dead.
		s.awaitDead(ctx, t, 5*time.Second)
	}
	return res, nil
}

// finishHooked reads the result of a command typed at a shell with the
// hook: the output follows the typed line on the screen, the exit status is
// the hook's.
func (s *Server) finishHooked(ctx context.Context, name, typed string, hook hookResult, snap Screen, res RunResult) (RunResult, error) {
	t := Target(name)
	output, found := parseTyped(snap.Lines, hook.Prompt, typed, snap.CursorX > 0)
	if !found {
		// The output is longer than the first capture: take it all.
		all, err := s.look(ctx, t, CaptureOptions{All: true}, 0)
		if err != nil {
			return res, sessionErr(name, err)
		}
		output, found = parseTyped(all.Lines, hook.Prompt, typed, snap.CursorX > 0)
		res.Truncated = !found
		if !found {
			output = Text(TrimBlank(all.Lines))
		}
	}
	res.Status, res.Output, res.ExitCode = StatusCompleted, output, hook.Code
	switch {
	case hook.Exited:
		res.ShellExited = true
		if !snap.Dead {
			// As markerScript's trap: return once the pane is dead.
			s.awaitDead(ctx, t, 5*time.Second)
		}
	case snap.Dead:
		// Ended by the pane-died hook: the shell died without its trap.
		res.ShellExited, res.ExitCode = true, snap.DeadStatus
		res.Output = Text(dropDeadNotice(TrimBlank(strings.Split(strings.TrimSuffix(output, "\n"), "\n"))))
	}
	return res, nil
}

// awaitDead polls until the pane of target is dead or gone, for at most
// limit.
func (s *Server) awaitDead(ctx context.Context, target string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		out, err := s.call(ctx, 0, nil, []string{"display-message", "-p", "-t", target, "#{pane_dead}"})
		if err != nil || strings.TrimSpace(out) == "1" || !time.Now().Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dropDeadNotice removes the "Pane is dead (status N, ...)" line tmux writes
// into a pane whose program has exited.
func dropDeadNotice(lines []string) []string {
	if n := len(lines); n > 0 && strings.HasPrefix(lines[n-1], "Pane is dead") {
		return TrimBlank(lines[:n-1])
	}
	return lines
}

// inDir is command run in dir, in a subshell, so that the directory is this
// command's only. A line break before the subshell's end ends a last line
// that may be a comment or a heredoc; a plain one-line command gets none, so
// that it stays one line on the screen.
func inDir(dir, command string) string {
	command = strings.TrimRight(command, "\n")
	end := " )"
	if strings.ContainsAny(command, "\n#\\") {
		end = "\n)"
	}
	return "(cd -- " + ShellQuote(dir) + " || exit; " + command + end
}
