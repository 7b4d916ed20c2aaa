package tmuxcli

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// New creates a session in one tmux invocation and returns its pane id. It
// then waits, up to ready, until the program has drawn something (text or a
// cursor move), so that what is sent next is not lost to a program still
// starting. drawn is false when ready passed first. A program that exited at
// once is an error that carries its exit status; its pane stays for capture.
func (s *Server) New(ctx context.Context, o NewOptions, ready time.Duration) (paneID string, drawn bool, err error) {
	if err := ValidateName(o.Name); err != nil {
		return "", false, err
	}
	for _, e := range o.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return "", false, fmt.Errorf("invalid env %q: want KEY=VALUE", e)
		}
	}
	out, err := s.call(ctx, 0, nil, NewArgs(o))
	if err != nil {
		return "", false, sessionErr(o.Name, err)
	}
	paneID = strings.TrimSpace(out)
	if !paneRE().MatchString(paneID) {
		return "", false, fmt.Errorf("tmux new-session: unexpected output %q", out)
	}
	if ready <= 0 {
		return paneID, false, nil
	}
	drew := func(snap Screen) bool {
		return snap.Dead || len(TrimBlank(snap.Lines)) > 0 || snap.CursorX != 0 || snap.CursorY != 0
	}
	var last Screen
	var deadSince time.Time
	stop := func(snap Screen, at time.Time) bool {
		last = snap
		if snap.Dead && !snap.StatusKnown {
			// tmux marks a pane dead when its terminal closes and learns
			// the status only once it reaps the process: wait for that,
			// briefly, rather than report a status of 0.
			if deadSince.IsZero() {
				deadSince = at
			}
			return at.Sub(deadSince) >= statusGrace
		}
		return drew(snap)
	}
	deadline := time.Now().Add(ready)
	err = s.watch(ctx, paneID, deadline, 20*time.Millisecond, CaptureOptions{Rows: true}, stop)
	if errors.Is(err, errNoWatcher) {
		err = s.pollEach(ctx, paneID, deadline, 20*time.Millisecond, CaptureOptions{Rows: true}, stop)
	}
	if err != nil {
		return paneID, false, sessionErr(o.Name, err)
	}
	if last.Dead {
		status := fmt.Sprintf("with status %d", last.DeadStatus)
		if !last.StatusKnown {
			status = "(tmux did not report its status)"
		}
		said := "it printed nothing"
		if lines := dropDeadNotice(TrimBlank(last.Lines)); len(lines) > 0 {
			said = strings.TrimSpace(lines[len(lines)-1])
		}
		return paneID, true, fmt.Errorf("tmux: session %s: the program exited %s: %s", o.Name, status, said)
	}
	return paneID, drew(last), nil
}

// statusGrace bounds how long New waits for tmux to reap a dead pane's
// program and learn its exit status.
const statusGrace = 2 * time.Second

// SendOptions tune Send.
type SendOptions struct {
	// NoEnter types the text only.
	NoEnter bool
	// DelayEnter separates the text from the Enter: TUIs often drop an Enter
	// that arrives in the same read as a paste.
	DelayEnter time.Duration
	// VerifyEnter confirms that the program took the input after Enter
	// (its input line no longer holds the text, or the cursor left that
	// line) and presses it again, up to three more times, when it did not.
	VerifyEnter bool
}

// Send types text into the session: with send-keys -l when it is one short
// line, else through a paste buffer fed on stdin (so 100 KB arrives whole),
// then Enter as a call of its own.
func (s *Server) Send(ctx context.Context, name, text string, o SendOptions) error {
	if err := ValidateTarget(name); err != nil {
		return err
	}
	t := Target(name)
	if text != "" {
		var err error
		if NeedsPaste(text) {
			_, err = s.call(ctx, s.bulkTimeout(len(text)), strings.NewReader(text), pasteArgs(t, s.id()))
		} else {
			_, err = s.call(ctx, 0, nil, LiteralArgs(t, text))
		}
		if err != nil {
			return sessionErr(name, err)
		}
	}
	if o.NoEnter {
		return nil
	}
	if text != "" && o.DelayEnter > 0 {
		if err := sleep(ctx, o.DelayEnter); err != nil {
			return err
		}
	}
	if !o.VerifyEnter {
		_, err := s.call(ctx, 0, nil, enterArgs(t))
		return sessionErr(name, err)
	}
	return s.verifiedEnter(ctx, name, t, text)
}

// verifiedEnter presses Enter and confirms that the program took the
// input: the row that held the end of the typed text no longer holds it
// (the input line was consumed or cleared), or the cursor left that row
// (the screen moved past it), or the program ended. A screen that merely
// changed, a spinner or a clock, is no confirmation. Where the text is
// never seen on the screen, any change of the screen counts. If
// the input stays, Enter is pressed again, up to three retries, and then
// the error says that the program did not take it. Each press is one call
// that captures and presses in one go, so nothing happens between the
// look and the key.
func (s *Server) verifiedEnter(ctx context.Context, name, t, text string) error {
	const retries, window, step = 3, 600 * time.Millisecond, 100 * time.Millisecond
	tail := inputTail(text)
	for attempt := 0; ; attempt++ {
		args := append(ScreenArgs(t, CaptureOptions{}), ";")
		out, err := s.call(ctx, 0, nil, append(args, enterArgs(t)...))
		if err != nil {
			return sessionErr(name, err)
		}
		before, err := ParseScreen(out)
		if err != nil {
			return err
		}
		row := inputRow(before, tail, 2)
		deadline := time.Now().Add(window)
		for time.Now().Before(deadline) {
			if err := sleep(ctx, step); err != nil {
				return err
			}
			now, err := s.look(ctx, t, CaptureOptions{}, 0)
			if err != nil {
				return sessionErr(name, err)
			}
			if row < 0 {
				// The text may show only now, drawn late; on the
				// cursor's row only: above it, it may be the line the
				// program took already.
				if r := inputRow(now, tail, 0); r >= 0 {
					before, row = now, r
					continue
				}
			}
			if took(before, now, row, tail) {
				return nil
			}
		}
		if attempt == retries {
			if row < 0 {
				return fmt.Errorf("tmux: session %s: the screen did not change after %d presses of Enter", name, retries+1)
			}
			return fmt.Errorf("tmux: session %s: the program did not take the input: %q is still on its input line after %d presses of Enter", name, tail, retries+1)
		}
	}
}

// inputTail is what verifiedEnter looks for on the input line: the end of
// the typed text's last non-blank line, short enough to sit on one row.
func inputTail(text string) string {
	lines := strings.Split(strings.TrimRight(text, " \t\r\n"), "\n")
	r := []rune(strings.TrimSpace(lines[len(lines)-1]))
	if len(r) > 16 {
		r = r[len(r)-16:]
	}
	return string(r)
}

// inputRow is the absolute row (history lines first) that holds tail: the
// cursor's row or one of the above rows above it, nearest first; -1 for
// none.
func inputRow(snap Screen, tail string, above int) int {
	if tail == "" || snap.Dead {
		return -1
	}
	for r := min(snap.CursorY, len(snap.Lines)-1); r >= 0 && r >= snap.CursorY-above; r-- {
		if strings.Contains(snap.Lines[r], tail) {
			return snap.HistorySize + r
		}
	}
	return -1
}

// took reports whether now shows that the program took the input that
// before showed at the absolute row (see verifiedEnter).
func took(before, now Screen, row int, tail string) bool {
	switch {
	case now.Dead:
		return true
	case row < 0:
		return now.hash(nil) != before.hash(nil)
	case now.HistorySize+now.CursorY != before.HistorySize+before.CursorY:
		return true
	}
	r := row - now.HistorySize
	return r < 0 || r >= len(now.Lines) || !strings.Contains(now.Lines[r], tail)
}

// bulkTimeout gives a paste time in proportion to its size: 100 KB through a
// docker exec takes well under a second, but a slow reader is no hang.
func (s *Server) bulkTimeout(n int) time.Duration {
	return s.callTimeout() + time.Duration(n/(64<<10))*time.Second
}

// Keys sends named keys.
func (s *Server) Keys(ctx context.Context, name string, repeat int, keys ...string) error {
	if err := ValidateTarget(name); err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("keys: no key given")
	}
	_, err := s.call(ctx, 0, nil, KeysArgs(Target(name), repeat, keys...))
	return sessionErr(name, err)
}

// Interrupt sends C-c.
func (s *Server) Interrupt(ctx context.Context, name string) error {
	return s.Keys(ctx, name, 0, "C-c")
}

// Kill kills a session.
func (s *Server) Kill(ctx context.Context, name string) error {
	if err := ValidateTarget(name); err != nil {
		return err
	}
	_, err := s.call(ctx, 0, nil, killArgs(name))
	return sessionErr(name, err)
}

// List lists every pane of the server; no server is no panes.
func (s *Server) List(ctx context.Context) ([]Pane, error) {
	out, err := s.call(ctx, 0, nil, listArgs())
	if errors.Is(err, ErrNoSession) {
		return []Pane{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseList(out)
}

// Capture is a pane's text and where its cursor is.
type Capture struct {
	Content         string `json:"content"`
	Lines           int    `json:"lines"`
	HistorySize     int    `json:"history_size"`
	CursorX         int    `json:"cursor_x"`
	CursorY         int    `json:"cursor_y"`
	AlternateScreen bool   `json:"alternate_screen"`
	Width           int    `json:"width"`
	Height          int    `json:"height"`
	Dead            bool   `json:"dead"`
}

// Capture prints a pane: the visible screen by default, the last lines lines
// with o.Lines, everything with o.All; trailing blank lines are dropped.
func (s *Server) Capture(ctx context.Context, name string, o CaptureOptions) (Capture, error) {
	if err := ValidateTarget(name); err != nil {
		return Capture{}, err
	}
	snap, err := s.look(ctx, Target(name), o, 0)
	if err != nil {
		return Capture{}, sessionErr(name, err)
	}
	lines := TrimBlank(snap.Lines)
	if o.Lines > 0 && len(lines) > o.Lines {
		lines = lines[len(lines)-o.Lines:]
	}
	return Capture{
		Content:         Text(lines),
		Lines:           len(lines),
		HistorySize:     snap.HistorySize,
		CursorX:         snap.CursorX,
		CursorY:         snap.CursorY,
		AlternateScreen: snap.Alternate,
		Width:           snap.Width,
		Height:          snap.Height,
		Dead:            snap.Dead,
	}, nil
}

// look is one poll: state and capture in a single call.
func (s *Server) look(ctx context.Context, target string, o CaptureOptions, timeout time.Duration) (Screen, error) {
	out, err := s.call(ctx, timeout, nil, ScreenArgs(target, o))
	if err != nil {
		return Screen{}, err
	}
	return ParseScreen(out)
}

// hash is the SHA-256 of the text, with ignore's matches masked, and of the
// cursor position.
func (snap Screen) hash(mask func(string) string) [32]byte {
	text := strings.Join(snap.Lines, "\n")
	if mask != nil {
		text = mask(text)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d,%d,%t\n", snap.CursorX, snap.CursorY, snap.Alternate)
	h.Write([]byte(text))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
