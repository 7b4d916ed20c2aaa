package tmuxcli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"dockerbridge/dockercli"
)

// DefaultSocket is the name of the private tmux server.
const DefaultSocket = "dockerbridge"

// DefaultCallTimeout bounds a tmux call that has no deadline of its own.
const DefaultCallTimeout = 10 * time.Second

// Server is one tmux server reached through a Runner.
type Server struct {
	Runner dockercli.Runner
	// Bin is the tmux binary; "" means "tmux".
	Bin string
	// Socket is the -L socket name; "" means DefaultSocket.
	Socket string
	// Config is the file given to -f; "" means /dev/null, so that no user
	// configuration changes keys, history or the shell under the tool.
	Config string
	// CallTimeout bounds each tmux call; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// LogDir is where sessions started with a transcript record it
	// (TranscriptPath); "" means no transcripts.
	LogDir string
	// ids names buffers and wait-for channels; nil means a random
	// "db-<16 hex>" each time. Tests set it to get stable names.
	ids func() string
}

// Errors a caller branches on.
var (
	// ErrNoSession: the session (or the whole server) does not exist.
	ErrNoSession = errors.New("no such session")
	// ErrDuplicate: new was asked for a name that is taken.
	ErrDuplicate = errors.New("duplicate session")
	// ErrTimeout: a tmux call outlived its deadline and was killed.
	ErrTimeout = errors.New("timed out")
	// ErrNotShell: run found the pane busy, dead, or running something
	// other than a shell.
	ErrNotShell = errors.New("not at a shell")
	// ErrBusy: run found a live pane away from its shell prompt (a program
	// runs or reads the terminal); it wraps ErrNotShell. Unlike a dead
	// pane, it may pass.
	ErrBusy = fmt.Errorf("%w: busy", ErrNotShell)
)

// Error is a tmux call that exited non-zero. It unwraps to ErrNoSession or
// ErrDuplicate when tmux's text says so.
type Error struct {
	Verb   string
	Code   int
	Stderr string
	Kind   error
}

func (e *Error) Error() string {
	if line := dockercli.FirstLine(e.Stderr); line != "" {
		return fmt.Sprintf("tmux %s: %s", e.Verb, line)
	}
	return fmt.Sprintf("tmux %s: exit status %d", e.Verb, e.Code)
}

func (e *Error) Unwrap() error { return e.Kind }

// SessionError names the session a targeted call could not reach.
type SessionError struct {
	Name string
	Err  error
}

func (e *SessionError) Error() string {
	if errors.Is(e.Err, ErrDuplicate) {
		return fmt.Sprintf("tmux: session %s already exists", e.Name)
	}
	return "tmux: no session " + e.Name
}

func (e *SessionError) Unwrap() error { return e.Err }

// kindError is a message of its own that still matches a typed error.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// classify maps tmux's error texts (3.0 to 3.5) onto the typed errors. A
// missing server is a missing session to the caller: there is no session
// without a server. So is a server on its way out: once its last session is
// gone, tmux keeps answering for a moment, and a client that reaches it then
// gets "no current target" (or, with no session at all, "no sessions")
// instead of "no server running".
func classify(stderr string) error {
	s := strings.ToLower(stderr)
	switch {
	case strings.Contains(s, "no server running"),
		strings.Contains(s, "error connecting to"),
		strings.Contains(s, "server exited unexpectedly"),
		strings.Contains(s, "lost server"),
		strings.Contains(s, "no current target"),
		strings.Contains(s, "no current session"),
		strings.Contains(s, "no sessions"),
		strings.Contains(s, "can't find session"),
		strings.Contains(s, "can't find window"),
		strings.Contains(s, "can't find pane"),
		// load-buffer's and paste-buffer's word for a target whose session
		// is gone, while the server still runs.
		strings.Contains(s, "no such pane"),
		strings.Contains(s, "session not found"):
		return ErrNoSession
	case strings.Contains(s, "duplicate session"):
		return ErrDuplicate
	}
	return nil
}

// Argv is the full argv for tmux args, global flags first. -u makes tmux
// treat the terminal as UTF-8 even where no UTF-8 locale is set.
func (s *Server) Argv(args ...string) []string {
	bin, socket, config := s.Bin, s.Socket, s.Config
	if bin == "" {
		bin = "tmux"
	}
	if socket == "" {
		socket = DefaultSocket
	}
	if config == "" {
		config = "/dev/null"
	}
	return append([]string{bin, "-u", "-f", config, "-L", socket}, args...)
}

// Output runs one tmux call under CallTimeout and returns its stdout.
func (s *Server) Output(ctx context.Context, args ...string) (string, error) {
	return s.call(ctx, 0, nil, args)
}

// call runs one tmux invocation (possibly a ";"-chained list) under its own
// deadline: timeout, or CallTimeout when zero. stdin may be nil.
func (s *Server) call(ctx context.Context, timeout time.Duration, stdin io.Reader, args []string) (string, error) {
	return s.invoke(ctx, timeout, stdin, args, false)
}

// invoke is call, for a call that may block on its own (a wait-for) when
// blocking is set.
func (s *Server) invoke(ctx context.Context, timeout time.Duration, stdin io.Reader, args []string, blocking bool) (string, error) {
	if timeout <= 0 {
		timeout = s.callTimeout()
	}
	verb := verbOf(args)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	errb := dockercli.NewCapBuffer(16 << 10)
	code, err := s.Runner.Run(cctx, dockercli.Cmd{Args: s.Argv(args...), Stdin: stdin, Stdout: &out, Stderr: errb, Blocking: blocking})
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return out.String(), fmt.Errorf("tmux %s: %w after %s", verb, ErrTimeout, timeout)
		}
		return out.String(), fmt.Errorf("tmux %s: %w", verb, err)
	}
	if code != 0 {
		return out.String(), &Error{Verb: verb, Code: code, Stderr: errb.String(), Kind: classify(errb.String())}
	}
	return out.String(), nil
}

// verbOf names a call for messages: its first command that is not a mere
// option setting.
func verbOf(args []string) string {
	first := ""
	next := true
	for _, a := range args {
		if next {
			if first == "" {
				first = a
			}
			if a != "set-option" && a != "set-hook" {
				return a
			}
		}
		next = a == ";"
	}
	if first == "" {
		return "tmux"
	}
	return first
}

func (s *Server) id() string {
	if s.ids != nil {
		return s.ids()
	}
	return newID()
}

// newID returns a fresh name for a buffer or a wait-for channel. It is random,
// so that a signal left over from an earlier command, or another caller's,
// can never end a later wait.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "db-" + hex.EncodeToString(b[:])
}

// socket is the -L name in use.
func (s *Server) socket() string {
	if s.Socket == "" {
		return DefaultSocket
	}
	return s.Socket
}

// sessionErr turns a "no such session" or "duplicate" failure into one line
// that names the session.
func sessionErr(name string, err error) error {
	if errors.Is(err, ErrNoSession) || errors.Is(err, ErrDuplicate) {
		var se *SessionError
		if errors.As(err, &se) {
			return err
		}
		kind := ErrNoSession
		if errors.Is(err, ErrDuplicate) {
			kind = ErrDuplicate
		}
		return &SessionError{Name: name, Err: kind}
	}
	return err
}

// Names are at most maxName bytes. The bound is checked apart from the
// regexps: a {0,99} repetition compiles into 99 copies, which cost every
// start of the tool about a millisecond.
const maxName = 100

var (
	nameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	})
	paneRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^%[0-9]+$`)
	})
	socketRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	})
)

// ValidateName checks a session name for new. tmux itself would rewrite '.'
// and ':' and the command parser treats a trailing ';' as a separator, so
// only a safe set is taken.
func ValidateName(name string) error {
	if len(name) > maxName || !nameRE().MatchString(name) {
		return fmt.Errorf("invalid session name %q: use letters, digits, '_' and '-'", name)
	}
	return nil
}

// ValidateTarget checks a session name or a %pane id.
func ValidateTarget(name string) error {
	if paneRE().MatchString(name) {
		return nil
	}
	if len(name) > maxName || !nameRE().MatchString(name) {
		return fmt.Errorf("invalid session %q: give a session name (letters, digits, '_', '-') or a pane id such as %%3", name)
	}
	return nil
}

// ValidateSocket checks a -L socket name.
func ValidateSocket(name string) error {
	if name != "" && (len(name) > maxName || !socketRE().MatchString(name)) {
		return fmt.Errorf("invalid socket name %q: use letters, digits, '_', '.' and '-'", name)
	}
	return nil
}
