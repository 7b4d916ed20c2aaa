package tmuxcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	_ "embed"

	"dockerbridge/dockercli"
)

// watchScript runs the screen command in "$@" every $1 seconds and ends
// each screen with a record separator line, until its stdin ends: the
// caller holds stdin open while it watches and closes it to stop, and when
// the caller dies (a killed docker client), docker closes it too, so the
// loop never outlives its reader by more than one interval. A failing tmux
// call ends the loop with tmux's status.
//
//go:embed scripts/watch.bash
var watchScript string

// recordSep ends each screen in the watcher's output.
const recordSep = "\x1e\n"

// watchArgs is the argv of a watcher that prints the screen argv every
// interval. One process serves a whole wait: in a container, one docker
// exec instead of one per look, and each look costs a tmux call in the
// container rather than a docker exec round trip.
func watchArgs(interval time.Duration, screen []string) []string {
	iv := strconv.FormatFloat(interval.Seconds(), 'f', -1, 64)
	return append([]string{"bash", "-c", watchScript, "dockerbridge-watch", iv}, screen...)
}

// errNoWatcher: the watcher could not start (no bash where tmux runs).
var errNoWatcher = errors.New("watcher unavailable")

// watch runs a watcher on target and hands each screen to stop, with the
// time it arrived, until stop returns true or deadline passes (a nil error
// either way).
func (s *Server) watch(ctx context.Context, t string, deadline time.Time, interval time.Duration, co CaptureOptions, stop func(Screen, time.Time) bool) error {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	w := &recordWriter{}
	w.record = func(rec string) {
		snap, err := ParseScreen(rec)
		if err != nil {
			w.err = err
		}
		if err != nil || stop(snap, time.Now()) {
			w.stopped = true
			cancel()
		}
	}
	// The watcher's lifeline: a pipe that sends nothing and is closed when
	// the wait ends. A file, not a reader, so that no copying goroutine
	// outlives a watcher that exited by itself, and so that a docker exec
	// that failed on a stopped container can be retried with it.
	lifeline, hold, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("tmux watch: %w", err)
	}
	defer lifeline.Close()
	var once sync.Once
	release := func() { once.Do(func() { hold.Close() }) }
	defer release()
	go func() {
		<-wctx.Done()
		release()
	}()
	errb := dockercli.NewCapBuffer(16 << 10)
	argv := watchArgs(interval, s.Argv(ScreenArgs(t, co)...))
	code, err := s.Runner.Run(wctx, dockercli.Cmd{Args: argv, Stdin: lifeline, Stdout: w, Stderr: errb})
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.err != nil:
		return w.err
	case w.stopped:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case wctx.Err() != nil:
		return nil // the deadline: the caller reports a timeout
	case err != nil && errors.Is(err, dockercli.ErrNotFound) && w.records == 0:
		return errNoWatcher
	case err != nil:
		return fmt.Errorf("tmux watch: %w", err)
	case (code == 126 || code == 127) && w.records == 0 && classify(errb.String()) == nil:
		return errNoWatcher
	case code != 0:
		return &Error{Verb: "capture-pane", Code: code, Stderr: errb.String(), Kind: classify(errb.String())}
	}
	// The loop ended by itself: its stdin closed early. Polling still works.
	if w.records == 0 {
		return errNoWatcher
	}
	return errors.New("tmux watch: the watcher ended early")
}

// recordWriter splits the watcher's output into screens.
type recordWriter struct {
	mu      sync.Mutex
	buf     []byte
	records int
	stopped bool
	err     error
	record  func(string)
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for !w.stopped {
		i := bytes.Index(w.buf, []byte(recordSep))
		if i < 0 {
			break
		}
		rec := string(w.buf[:i])
		w.buf = w.buf[i+len(recordSep):]
		w.records++
		w.record(rec)
	}
	return len(p), nil
}
