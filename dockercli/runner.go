package dockercli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd is one process to run: its argv (Args[0] is the program) and where its
// standard streams go. Nil streams mean no input and discarded output.
type Cmd struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env adds KEY=VALUE pairs to the inherited environment.
	Env []string
	// Blocking says the program may wait indefinitely on its own (tmux's
	// wait-for). A runner that runs it somewhere else, such as a container,
	// must end it there too when ctx ends; other programs end by themselves
	// once their client is gone.
	Blocking bool
}

// Runner runs a Cmd and returns its exit code. The error is non-nil only when
// the process could not be started or ctx ended before it did; a process that
// ran and failed returns its code with a nil error.
//
// An *os.File given as Stdin, Stdout or Stderr is handed straight to the
// child as its descriptor, with no copying goroutine in between. Callers rely
// on it: a pipe whose other end they feed only once the child is ready (a
// write's frames), a terminal that must stay the child's own, and a stdin
// that is still whole when a failed docker call is retried.
type Runner interface {
	Run(ctx context.Context, c Cmd) (int, error)
}

// Trace is a Runner that writes each command to W, quoted as a shell takes
// it, before Next runs it.
type Trace struct {
	Next Runner
	W    io.Writer
}

func (t Trace) Run(ctx context.Context, c Cmd) (int, error) {
	fmt.Fprintf(t.W, "+ %s\n", quoteArgs(c.Args))
	return t.Next.Run(ctx, c)
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// ErrNotFound reports that the program itself is missing.
var ErrNotFound = errors.New("executable not found")

// OSRunner runs commands with os/exec.
type OSRunner struct {
	// WaitDelay bounds how long a process may outlive its context after the
	// interrupt; then it is killed and its pipes closed. Zero means 2s.
	WaitDelay time.Duration
}

// Run implements Runner.
func (r OSRunner) Run(ctx context.Context, c Cmd) (int, error) {
	if len(c.Args) == 0 {
		return -1, errors.New("run: empty argv")
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	// A terminal's Ctrl-C goes to the whole foreground process group. A
	// docker client that got it too could end first and report success
	// while the command still runs in the container; in a group of its own
	// it ends only when the caller's context says so, and then the caller
	// kills the command in the container. A child reading a terminal must
	// stay in the foreground group, or the terminal would stop it.
	group := !readsTerminal(c.Stdin)
	cmd.SysProcAttr = procAttr(group)
	// SIGTERM first lets the docker client close its stream to the daemon
	// cleanly; WaitDelay then guarantees an end even if it ignores it. In a
	// group of its own, the whole group gets it: a wrapper script's child
	// would otherwise hold the pipes open until WaitDelay.
	cmd.Cancel = func() error {
		if group {
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err == nil {
				return nil
			}
		}
		return cmd.Process.Signal(syscall.SIGTERM)
	}
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	err := runLocked(cmd)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return -1, fmt.Errorf("%s: %w", c.Args[0], ctxErr)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		if exitErr.ExitCode() >= 0 {
			return exitErr.ExitCode(), nil
		}
		return -1, fmt.Errorf("%s: %w", c.Args[0], err)
	case errors.Is(err, exec.ErrNotFound):
		return -1, fmt.Errorf("%s: %w in $PATH", c.Args[0], ErrNotFound)
	case errors.Is(err, fs.ErrNotExist):
		// A path (--docker /opt/bin/docker) that names no file.
		return -1, fmt.Errorf("%s: %w", c.Args[0], ErrNotFound)
	case errors.Is(err, exec.ErrWaitDelay):
		// The process exited but a child kept its pipes open; its code stands.
		return cmd.ProcessState.ExitCode(), nil
	default:
		return -1, fmt.Errorf("%s: %w", c.Args[0], err)
	}
}

func readsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}
