package tmuxcli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// WaitOptions tune the waits. Each poll is one tmux call (state and capture
// together), started at most once per Interval.
type WaitOptions struct {
	Timeout  time.Duration
	Interval time.Duration
	// Idle is how long the screen must stay unchanged (wait-idle).
	Idle time.Duration
	// Ignore masks parts of the screen before hashing: spinners, clocks
	// (wait-idle).
	Ignore *regexp.Regexp
	// Changed makes wait-prompt ignore the screen as it was when the wait
	// began, so a prompt still showing from before does not count.
	Changed bool
	// History is how many lines above the screen wait-prompt searches.
	History int
	// Prompt overrides the shell prompt pattern of wait-shell; it is
	// matched against the cursor's line up to the cursor.
	Prompt *regexp.Regexp
}

// Defaults for WaitOptions' zero values.
const (
	DefaultInterval      = 250 * time.Millisecond
	DefaultIdle          = 2 * time.Second
	DefaultPromptHistory = 100
)

// DefaultPrompt is what a shell prompt ends with at the cursor: "$ ", "# ",
// "% ", "> ", "❯ " and the like.
var DefaultPrompt = regexp.MustCompile(`[$#%>❯➜»]\s*$`)

// WaitResult is how a wait ended. OK is false on a timeout.
type WaitResult struct {
	OK      bool
	Waited  time.Duration
	Content string
	// Match is the text the pattern matched (wait-prompt).
	Match string
	// Polls is the number of tmux calls the wait made.
	Polls int
	// Last is the last look at the pane; Last.Dead when its program ended.
	Last Screen
}

// Watch hands screens of session name, captured with co, to check until
// check says done (OK, with check's match), the timeout passes (OK false,
// no error), the pane's program ends (Last.Dead, and an error) or a call
// fails. The waits below are made of it, and so can a caller's own: one
// watcher process in the container serves the whole wait.
func (s *Server) Watch(ctx context.Context, name string, o WaitOptions, co CaptureOptions, check func(Screen, time.Time) (bool, string)) (WaitResult, error) {
	return s.poll(ctx, name, o, co, check)
}

// poll hands screens of target to check until check says done, the
// timeout passes (OK false, no error), the pane dies, or a call fails.
// Screens come from one watcher process (see watchArgs), so a whole wait
// costs one docker exec; where bash is missing it falls back to one call
// per interval.
func (s *Server) poll(ctx context.Context, name string, o WaitOptions, co CaptureOptions, check func(Screen, time.Time) (bool, string)) (WaitResult, error) {
	if err := ValidateTarget(name); err != nil {
		return WaitResult{}, err
	}
	if o.Timeout <= 0 {
		return WaitResult{}, errors.New("wait: the timeout must be positive")
	}
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	start := time.Now()
	deadline := start.Add(o.Timeout)
	var res WaitResult
	var last Screen
	var dead bool
	stop := func(snap Screen, at time.Time) bool {
		res.Polls++
		last = snap
		if done, match := check(snap, at); done {
			res.OK, res.Match = true, match
			return true
		}
		dead = snap.Dead
		return dead
	}
	t := Target(name)
	err := s.watch(ctx, t, deadline, interval, co, stop)
	if errors.Is(err, errNoWatcher) && res.Polls == 0 {
		err = s.pollEach(ctx, t, deadline, interval, co, stop)
	}
	if err == nil && res.Polls == 0 {
		// The deadline came before the first look (a slow machine, a tiny
		// timeout): a timeout still reports a screen that was looked at.
		snap, serr := s.look(ctx, t, co, 0)
		if serr != nil {
			err = serr
		} else {
			stop(snap, time.Now())
		}
	}
	res.Waited = time.Since(start)
	res.Last = last
	res.Content = Text(TrimBlank(last.Lines))
	if err != nil {
		return res, sessionErr(name, err)
	}
	if dead && !res.OK {
		return res, fmt.Errorf("tmux: session %s: the program exited with status %d", name, last.DeadStatus)
	}
	return res, nil
}

// pollEach takes one screen per call, the calls started interval apart; a
// call slower than the interval is followed at once, never by a burst.
func (s *Server) pollEach(ctx context.Context, t string, deadline time.Time, interval time.Duration, co CaptureOptions, stop func(Screen, time.Time) bool) error {
	for at := time.Now(); ; {
		// A poll never runs past the wait's own deadline; the last one
		// may be cut short, which is a timeout like any other.
		callTimeout := min(s.callTimeout(), time.Until(deadline)+time.Second)
		snap, err := s.look(ctx, t, co, callTimeout)
		if err != nil {
			if errors.Is(err, ErrTimeout) && !time.Now().Before(deadline) {
				return nil
			}
			return err
		}
		if stop(snap, at) {
			return nil
		}
		at = at.Add(interval)
		if now := time.Now(); at.Before(now) {
			at = now
		}
		if !at.Before(deadline) {
			return nil
		}
		if err := sleep(ctx, time.Until(at)); err != nil {
			return err
		}
	}
}

// callTimeout is the bound of a tmux call that gives none: CallTimeout, or
// DefaultCallTimeout when that is zero. Every call takes it from here.
func (s *Server) callTimeout() time.Duration {
	if s.CallTimeout > 0 {
		return s.CallTimeout
	}
	return DefaultCallTimeout
}

// WaitPrompt waits until re matches the last screenful plus o.History lines
// of history, trailing blank lines dropped. re is compiled by the caller;
// use (?m) for ^ and $ at line ends.
func (s *Server) WaitPrompt(ctx context.Context, name string, re *regexp.Regexp, o WaitOptions) (WaitResult, error) {
	hist := o.History
	if hist <= 0 {
		hist = DefaultPromptHistory
	}
	var first *[32]byte
	return s.poll(ctx, name, o, CaptureOptions{Lines: hist}, func(snap Screen, _ time.Time) (bool, string) {
		if o.Changed {
			h := snap.hash(nil)
			if first == nil {
				first = &h
				return false, ""
			}
			if h == *first {
				return false, ""
			}
			o.Changed = false // changed once: from now on any match counts
		}
		text := Text(TrimBlank(snap.Lines))
		if loc := re.FindStringIndex(text); loc != nil {
			return true, text[loc[0]:loc[1]]
		}
		return false, ""
	})
}

// WaitIdle waits until the screen and the cursor have not changed for
// o.Idle. The change is timed from the poll that first saw it, so idleness
// is declared at most Idle plus two intervals after the output stopped.
func (s *Server) WaitIdle(ctx context.Context, name string, o WaitOptions) (WaitResult, error) {
	idle := o.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	var mask func(string) string
	if o.Ignore != nil {
		mask = func(text string) string { return o.Ignore.ReplaceAllString(text, "") }
	}
	var last [32]byte
	var since time.Time
	return s.poll(ctx, name, o, CaptureOptions{}, func(snap Screen, at time.Time) (bool, string) {
		h := snap.hash(mask)
		if since.IsZero() || h != last {
			last, since = h, at
			return false, ""
		}
		return at.Sub(since) >= idle, ""
	})
}

// WaitShell waits until the pane sits at a shell prompt: its foreground
// process is a shell (not a command the shell runs), it is on the normal
// screen, the cursor's line up to the cursor looks like a prompt and nothing
// follows the cursor; and all of that twice in a row, unchanged. A '$' in a
// command's output is not at the cursor when the output ends with a line
// break, and while the command runs the foreground process is not the shell.
//
// The screen alone cannot tell a prompt from a script that printed '$ '
// and is about to start its next command: until that command's exec, the
// foreground process is still a shell, and on a loaded machine that lasts
// longer than any interval. So a screen that settled is confirmed by /proc
// (one state call): the shell must be blocked reading the pane's terminal,
// and the next look must show the same screen, which the shell drew before
// it sat down to read. Where /proc cannot tell (no /proc, no bash), the
// settled screen is the answer.
func (s *Server) WaitShell(ctx context.Context, name string, o WaitOptions) (WaitResult, error) {
	prompt := o.Prompt
	if prompt == nil {
		prompt = DefaultPrompt
	}
	var prev [32]byte
	var prevOK, confirmed bool
	return s.poll(ctx, name, o, CaptureOptions{Rows: true}, func(snap Screen, _ time.Time) (bool, string) {
		h := snap.hash(nil)
		ok := atPrompt(snap, prompt)
		settled := ok && prevOK && h == prev
		prev, prevOK = h, ok
		switch {
		case !settled:
			confirmed = false
			return false, ""
		case confirmed:
			return true, promptLine(snap)
		}
		raw, err := s.readState(ctx, name)
		if err != nil {
			return true, promptLine(snap)
		}
		reading, known := readingTerminal(raw)
		switch {
		case !known:
			return true, promptLine(snap)
		case reading:
			confirmed = true
		default:
			// Busy after all: two more looks before asking again.
			prevOK = false
		}
		return false, ""
	})
}

var shellRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(shellPattern)
})

// IsShell reports whether a pane's foreground command is a shell.
func IsShell(command string) bool {
	return shellRE().MatchString(command)
}

// atPrompt reports whether snap (captured with Rows) shows a shell waiting at
// a prompt.
func atPrompt(snap Screen, prompt *regexp.Regexp) bool {
	if snap.Dead || snap.Alternate || !IsShell(snap.Command) {
		return false
	}
	if snap.CursorY < 0 || snap.CursorY >= len(snap.Lines) || snap.CursorX == 0 {
		return false
	}
	row := snap.Lines[snap.CursorY]
	before, after := splitCells(row, snap.CursorX)
	if strings.TrimSpace(after) != "" {
		return false
	}
	return prompt.MatchString(before)
}

// promptLine is the cursor's line.
func promptLine(snap Screen) string {
	if snap.CursorY < 0 || snap.CursorY >= len(snap.Lines) {
		return ""
	}
	return strings.TrimRight(snap.Lines[snap.CursorY], " ")
}

// splitCells splits a row at column x, counting a rune as one cell: close
// enough for prompts, and a wide rune only moves the split to the right.
func splitCells(row string, x int) (string, string) {
	i := 0
	for n := 0; n < x && i < len(row); n++ {
		_, size := utf8.DecodeRuneInString(row[i:])
		i += size
	}
	return row[:i], row[i:]
}
