package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "embed"

	"dockerbridge/dockercli"
)

// Everything that runs in the container goes through one door, run: exec,
// file operations, git and tmux. It owns the exec id, the deadline, the lazy
// start and its single retry, telling docker's failures from the command's,
// and the kill in the container.
//
// The program runs under a small bash wrapper. The wrapper checks that the
// programs the call needs exist, then prints a start mark on stdout and on
// stderr and execs the program, under an in-container deadline. Whatever
// docker prints before the mark is docker's; what follows is the command's.
// So a command that prints "No such container" and exits 1 is never taken
// for docker's failure and run again, and docker's "OCI runtime exec failed"
// (printed on stdout, with exit 126) never passes for the command's output.

// startMark opens the mark the wrapper prints when the program starts; the
// wrapper's pid and a NUL follow. The NULs keep it from matching any text a
// docker client prints.
const startMark = "\x00dockerbridge-start "

// missingMark is the wrapper's line for a needed program the image lacks;
// it then exits exitMissing, as bash does for a command it cannot find.
// This is the wrapper's one exit code of its own.
const (
	missingMark = "dockerbridge-missing "
	exitMissing = 127
)

// wrapScript is the wrapper: $1 the deadline in seconds (0: none), then the
// programs the call needs, "--", and the program with its arguments. The
// deadline ends the program in the container even when the host cannot
// (a paused container, a lost client): coreutils' "timeout" uses a real-time
// timer, so it fires as soon as a paused container resumes. It sends
// SIGTERM first and SIGKILL 2 s later: git removes its
// index.lock on SIGTERM, never on SIGKILL. Busybox's (a
// link to busybox) is not used: its watcher outlives the program, and would
// at the deadline kill whatever process has taken the program's pid since.
//
// The wrapper prints missingMark and startMark as literals; the tests run
// it and check them. Its file holds no comment: it travels in the argv of
// every call, and -v prints it.
//
//go:embed scripts/wrap.bash
var wrapScript string

// killGrace is how much later than the host's deadline the in-container one
// fires: the host's kill, which reaches more processes, comes first.
const killGrace = 2

// killTimeout bounds the kill in the container; unstartedKillTimeout bounds
// it for a call whose start was not seen.
const (
	killTimeout          = 10 * time.Second
	unstartedKillTimeout = 2 * time.Second
)

// call is one program to run in the container.
type call struct {
	argv  []string
	needs []string // programs the image must have, besides bash
	env   []string
	// user and workdir are docker exec's --user and -w; empty: the
	// container's.
	user, workdir string
	// mark gives every process of the call the exec id in its environment,
	// so that the kill finds those that left its process tree.
	mark bool
	// interactive passes stdin (docker exec -i) even when stdin is nil.
	interactive bool
	stdin       io.Reader
	// keep leaves the call's processes in the container when it is cut
	// short: they end by themselves once the docker client is gone.
	keep bool
	// gate holds stdin back until the program has started: a failed docker
	// call that is then retried has consumed none of it.
	gate           bool
	stdout, stderr io.Writer
	// timeout bounds the call; zero takes the context's deadline, or the
	// bridge's timeout when it has none.
	timeout time.Duration
}

// ErrTimeout reports a call ended by its deadline; the error is a
// *TimeoutError that says after how long.
var ErrTimeout = errors.New("timed out")

// TimeoutError is a call its deadline ended. Its processes in the container
// were killed.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string { return "timed out after " + seconds(e.After) }

func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// ErrMissingProgram reports an image that lacks a program a command needs.
var ErrMissingProgram = errors.New("program missing in the image")

// run runs c in the project's container and returns the program's exit
// code. Errors: *TimeoutError, ErrInterrupted, or docker's failure as a
// *dockercli.CmdError (the program never started).
func (b *Bridge) run(ctx context.Context, c call) (int, error) {
	timeout := c.timeout
	if timeout <= 0 {
		timeout = b.cfg.Timeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ended := func(err error) error {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		if runCtx.Err() != nil {
			return &TimeoutError{After: timeout}
		}
		return err
	}
	name := b.Name()
	busy, err := b.state.Enter(runCtx, name)
	if err != nil {
		return -1, ended(err)
	}
	defer busy.Leave()
	env := c.env
	var id string
	if c.mark {
		id = newID()
		env = append([]string{ExecIDVar + "=" + id}, env...)
	}
	for attempt := 0; ; attempt++ {
		st := &started{}
		var pre bytes.Buffer // docker's bytes before the mark, for a started call
		stderr := &startWriter{w: c.stderr, st: st, pre: &pre}
		stdout := &startWriter{w: c.stdout, st: st, pre: &pre}
		stdin := c.stdin
		var g *gate
		if c.gate && stdin != nil {
			if g, err = newGate(stdin); err != nil {
				return -1, err
			}
			stdin, st.onStart = g.r, g.open
		}
		args := dockercli.ExecSpec{
			Container:   name,
			Interactive: c.interactive || c.stdin != nil,
			Env:         env,
			User:        c.user,
			Workdir:     c.workdir,
			Command:     wrap(runCtx, c),
		}.Args()
		code, err := b.docker.Stream(runCtx, args, dockercli.Cmd{Stdin: stdin, Stdout: stdout, Stderr: stderr})
		if g != nil {
			g.close()
		}
		if st.is() {
			stdout.flushPre()
			stderr.flushPre()
			if pre.Len() > 0 && c.stderr != nil {
				_, _ = c.stderr.Write(pre.Bytes())
			}
		}
		if err != nil {
			switch {
			case runCtx.Err() == nil, c.keep:
			case st.is():
				b.killAs(ctx, c.user, id, st.pidOf(), killTimeout)
			case id != "":
				// The mark may have been on its way when the client was
				// stopped (a Ctrl-C just after the start): kill by id, but
				// only briefly, since a docker CLI that never answered the
				// call would not answer the kill either.
				b.killAs(ctx, c.user, id, "", unstartedKillTimeout)
			}
			return -1, ended(err)
		}
		if st.is() {
			return code, nil
		}
		text := string(stdout.held()) + string(stderr.held())
		if code == 0 {
			// No mark but success: nothing docker failed at. Pass it on.
			_, _ = stdout.out(stdout.held())
			_, _ = stderr.out(stderr.held())
			return 0, nil
		}
		kind := dockercli.Classify(text)
		retry := errors.Is(kind, dockercli.ErrNoSuchContainer) || errors.Is(kind, dockercli.ErrNotRunning)
		if attempt == 0 && retry && (g != nil || rewind(c.stdin)) {
			if _, err := b.Ensure(runCtx); err != nil {
				return -1, ended(err)
			}
			continue
		}
		return code, b.dockerError(args, code, text, kind)
	}
}

// wrap is the container argv of c: the wrapper, its deadline, the needed
// programs and the program.
func wrap(ctx context.Context, c call) []string {
	d := 0
	if dl, ok := ctx.Deadline(); ok {
		d = max(int(math.Ceil(time.Until(dl).Seconds())), 1) + killGrace
	}
	argv := []string{"bash", "-c", wrapScript, "dockerbridge", strconv.Itoa(d)}
	argv = append(argv, c.needs...)
	argv = append(argv, "--")
	return append(argv, c.argv...)
}

// dockerError is docker's failure of a call that never started, in one line
// a user can act on where it is a known one.
func (b *Bridge) dockerError(args []string, code int, text string, kind error) error {
	e := b.docker.Error(args, code, text).(*dockercli.CmdError)
	name := b.Name()
	switch {
	case code == exitMissing && strings.Contains(text, missingMark):
		_, prog, _ := strings.Cut(text, missingMark)
		prog, _, _ = strings.Cut(prog, "\n")
		e.Kind = ErrMissingProgram
		e.Msg = fmt.Sprintf("image %s has no %s; this command runs %s in the container", b.cfg.Image, prog, prog)
	case noBash(text) && envPath(args) != "" && !slices.Contains(b.cfg.Env, envPath(args)):
		// The command's own PATH (-e) hid bash: the image may well have
		// it. A PATH of --env is the container's, and the image's case.
		e.Kind = ErrMissingProgram
		e.Msg = fmt.Sprintf("bash was not found on the PATH the command runs with (%s); dockerbridge runs commands with bash -c in the container", envPath(args))
	case noBash(text):
		e.Kind = ErrMissingProgram
		e.Msg = fmt.Sprintf("image %s has no bash; dockerbridge runs commands with bash -c in the container", b.cfg.Image)
	case errors.Is(kind, dockercli.ErrRestarting):
		e.Msg = restartingMessage(name)
	case strings.Contains(text, "chdir"):
		// A -w that the runtime could not enter: the caller's mistake, but
		// docker's refusal still (exec's 125), the command never ran.
		why := "no such directory"
		if strings.Contains(strings.ToLower(text), "permission denied") {
			why = "permission denied"
		}
		e.Msg = fmt.Sprintf("working directory %s: %s", args[slices.Index(args, "-w")+1], why)
	case strings.Contains(text, "unable to find user") || strings.Contains(text, "no matching entries in passwd file"):
		e.Msg = fmt.Sprintf("user %s: no such user in the container", args[slices.Index(args, "--user")+1])
	}
	return e
}

func restartingMessage(name string) string {
	return fmt.Sprintf("container %s is restarting: its main process keeps exiting (see `docker logs %s`)", name, name)
}

// envPath is the PATH=... a docker exec's argv sets, or "".
func envPath(args []string) string {
	p := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-e" && strings.HasPrefix(args[i+1], "PATH=") {
			p = args[i+1]
		}
		if !strings.HasPrefix(args[i], "-") && i > 0 && args[i-1] != "-e" && args[i-1] != "--user" && args[i-1] != "-w" {
			break // the container's name: the command follows
		}
	}
	return p
}

// noBash recognises the runtime's failure to find bash: docker's
// `exec: "bash": executable file not found in $PATH`, podman's
// `executable file 'bash' not found`.
func noBash(text string) bool {
	s := strings.ToLower(text)
	return (strings.Contains(s, `"bash"`) || strings.Contains(s, `'bash'`)) &&
		(strings.Contains(s, "not found") || strings.Contains(s, "no such file"))
}

// killScript ends every process of a call: those whose environment carries
// the exec id $1 (when given), and those descending from the wrapper's pid
// $2 (when given), which finds the ones that dropped the id. They get
// SIGTERM first and up to 2 s to clean up and end (git its
// index.lock, a write its temp file), then are stopped and killed. Stopping first keeps a forking command from
// outrunning the scan; the scan repeats until it stops nothing new. It uses
// only bash builtins, but for the one sleep: a fork per process made it
// take longer than its deadline in a container with many processes.
// It names the exec id's variable, ExecIDVar, as a literal.
//
//go:embed scripts/kill.bash
var killScript string

// kill ends every process of a call run as the container's user.
func (b *Bridge) kill(ctx context.Context, id, pid string, timeout time.Duration) {
	b.killAs(ctx, "", id, pid, timeout)
}

// killAs ends every process of a call in the container: by exec id, and by
// descent from the wrapper's pid. It runs as the call's user: the
// container's user cannot signal a call run as another uid (root), and
// under --harden root has no capability to signal another uid either. It
// runs after the caller's context is over, so it gets its own short
// deadline.
func (b *Bridge) killAs(ctx context.Context, user, id, pid string, timeout time.Duration) {
	if id == "" && pid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Not a control call under --timeout: the kill must outlast the
	// grace it gives the processes, or the caller is told the command
	// ended while it is still cleaning up.
	_, _ = b.docker.Stream(ctx, dockercli.ExecSpec{
		Container: b.Name(),
		User:      user,
		Command:   []string{"bash", "-c", killScript, "bash", id, pid},
	}.Args(), dockercli.Cmd{Stdout: io.Discard, Stderr: io.Discard})
}

// started is whether a call's program has started, and the wrapper's pid.
type started struct {
	mu      sync.Mutex
	yes     bool
	pid     string
	onStart func()
}

func (s *started) set(pid string) {
	s.mu.Lock()
	first := !s.yes
	s.yes = true
	if s.pid == "" {
		s.pid = pid
	}
	f := s.onStart
	s.mu.Unlock()
	if first && f != nil {
		f()
	}
}

func (s *started) is() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.yes
}

func (s *started) pidOf() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// preKeep bounds what is kept of a stream before the start mark.
const preKeep = 64 << 10

// startWriter holds one stream until the start mark, strips the mark and
// passes the rest through. What came before the mark is docker's.
type startWriter struct {
	w       io.Writer
	st      *started
	pre     *bytes.Buffer
	buf     []byte
	passing bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if s.passing {
		return s.out(p)
	}
	s.buf = append(s.buf, p...)
	i := bytes.Index(s.buf, []byte(startMark))
	if i < 0 {
		if len(s.buf) > 2*preKeep {
			// Keep the head for the message and enough of the tail to
			// find a mark split across writes.
			s.buf = append(s.buf[:preKeep:preKeep], s.buf[len(s.buf)-len(startMark)-32:]...)
		}
		return len(p), nil
	}
	rest := s.buf[i+len(startMark):]
	j := bytes.IndexByte(rest, 0)
	if j < 0 {
		if len(rest) > 32 {
			// Not a mark after all: keep looking after it.
			s.buf[i] = ' '
		}
		return len(p), nil
	}
	s.pre.Write(s.buf[:i])
	s.buf = nil
	s.passing = true
	s.st.set(string(rest[:j]))
	if _, err := s.out(rest[j+1:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *startWriter) out(p []byte) (int, error) {
	if s.w == nil || len(p) == 0 {
		return len(p), nil
	}
	return s.w.Write(p)
}

// flushPre moves what a stream held to the pre buffer once the other
// stream showed the start: it came before the start, so it is docker's.
func (s *startWriter) flushPre() {
	if !s.passing && len(s.buf) > 0 {
		s.pre.Write(s.buf)
		s.buf = nil
	}
}

func (s *startWriter) held() []byte { return s.buf }

// gate passes src to a pipe only once opened. The pipe is a real file, so
// the docker client reads it directly; until the program has started it
// reads nothing from src.
type gate struct {
	src    io.Reader
	r, w   *os.File
	once   sync.Once
	opened chan struct{}
	closed chan struct{}
}

func newGate(src io.Reader) (*gate, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	g := &gate{src: src, r: r, w: w, opened: make(chan struct{}), closed: make(chan struct{})}
	go g.pump()
	return g, nil
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *gate) pump() {
	select {
	case <-g.opened:
		_, _ = io.Copy(g.w, g.src)
	case <-g.closed:
	}
	g.w.Close()
}

// close ends the call's side. A pump blocked reading src is left to end
// with the process: it has been opened, so no retry follows.
func (g *gate) close() {
	g.r.Close()
	select {
	case <-g.opened:
	default:
		close(g.closed)
	}
}
