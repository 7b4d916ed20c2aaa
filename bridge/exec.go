package bridge

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "embed"

	"dockerbridge/dockercli"
)

// ExecIDVar marks every process an exec starts, so that all of them can be
// found and killed in the container on a timeout or an interrupt, even those
// that left the process group.
const ExecIDVar = "DOCKERBRIDGE_EXEC_ID"

// ExecOptions tune one Exec.
type ExecOptions struct {
	// Timeout bounds the command; zero takes the bridge's.
	Timeout time.Duration
	// Stdin, when set, is attached to the command.
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the output live and nothing is
	// captured. Otherwise each stream is captured up to the output cap.
	Stdout, Stderr io.Writer
	// Dir is the working directory: relative to /workspace, or absolute.
	Dir string
	// Env adds KEY=VALUE pairs to this command's environment, over the
	// bridge's own Env.
	Env []string
	// User runs the command as NAME or UID[:GID] instead of the project
	// user.
	User string
}

// longCommand is the length from which a command goes on stdin rather than
// as an argument: Linux refuses a single argument of 128 KiB or more.
const longCommand = 64 << 10

// longScript runs a command read from the first $1 bytes of stdin, through
// a file, so that the rest of stdin is the command's own. head -c reads no
// byte past the count. The file goes as soon as bash has it open; it is
// made in TMPDIR, else in /tmp.
//
//go:embed scripts/long.bash
var longScript string

// ExecResult is the original's execute dict, plus truncated and timed_out.
type ExecResult struct {
	Success   bool   `json:"success"`
	Output    string `json:"output"`
	Error     string `json:"error"`
	ExitCode  int    `json:"exit_code"`
	Truncated bool   `json:"truncated"`
	TimedOut  bool   `json:"timed_out"`
}

// ErrInterrupted reports a command ended by the caller's context (SIGINT,
// SIGTERM). The command was killed in the container as well.
var ErrInterrupted = errors.New("interrupted")

// Exec runs `bash -c command` in the container, starting it if needed. On a
// timeout the result has exit code -1 and the original's error text; on an
// interrupt the error is ErrInterrupted. Either way every process the
// command started in the container is killed first.
func (b *Bridge) Exec(ctx context.Context, command string, opt ExecOptions) (ExecResult, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = b.cfg.Timeout
	}
	var outBuf, errBuf *dockercli.CapBuffer
	stdout, stderr := opt.Stdout, opt.Stderr
	if stdout == nil {
		outBuf = dockercli.NewCapBuffer(b.cfg.OutputCap)
		stdout = outBuf
	}
	if stderr == nil {
		errBuf = dockercli.NewCapBuffer(b.cfg.OutputCap)
		stderr = errBuf
	}
	if err := ValidateEnv(opt.Env); err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec: %w", err)
	}
	env := mergeEnv(b.cfg.Env, opt.Env)
	for _, e := range env {
		if strings.HasPrefix(e, ExecIDVar+"=") {
			return ExecResult{ExitCode: -1}, fmt.Errorf("exec: %s is dockerbridge's own", ExecIDVar)
		}
	}
	if strings.HasPrefix(opt.User, "-") {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec: invalid user %q", opt.User)
	}
	c := call{
		argv:    []string{"bash", "-c", command},
		env:     env,
		user:    opt.User,
		mark:    true,
		stdin:   opt.Stdin,
		gate:    opt.Stdin != nil && !seekable(opt.Stdin),
		stdout:  stdout,
		stderr:  stderr,
		timeout: timeout,
	}
	if opt.Dir != "" {
		c.workdir = workDir(opt.Dir)
	}
	if len(command) >= longCommand {
		// The command goes first on stdin, the caller's input after it.
		in := io.Reader(strings.NewReader(command))
		if opt.Stdin != nil {
			in = io.MultiReader(in, opt.Stdin)
		}
		c.argv = []string{"bash", "-c", longScript, "bash", strconv.Itoa(len(command))}
		c.stdin, c.gate, c.interactive = in, true, true
	}
	code, err := b.run(ctx, c)
	if err == nil && code == 255 {
		err = b.daemonLost(ctx)
	}
	// A daemon killed before the command's start reached the client leaves
	// the same silent 255, with no start seen: ask the daemon too.
	if ce := (*dockercli.CmdError)(nil); errors.As(err, &ce) && ce.Code == 255 && ce.Kind == nil && strings.TrimSpace(ce.Stderr) == "" {
		if lost := b.daemonLost(ctx); lost != nil {
			err = lost
		}
	}
	if errors.Is(err, ErrTimeout) {
		return ExecResult{
			ExitCode: -1,
			Output:   captured(outBuf),
			Error:    "Command timed out after " + seconds(timeout),
			TimedOut: true,
		}, nil
	}
	if errors.Is(err, ErrInterrupted) {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec: %w", ErrInterrupted)
	}
	if err != nil {
		return ExecResult{ExitCode: -1}, err
	}
	return ExecResult{
		Success:   code == 0,
		Output:    captured(outBuf),
		Error:     captured(errBuf),
		ExitCode:  code,
		Truncated: truncated(outBuf) || truncated(errBuf),
	}, nil
}

// workDir is a command's working directory: relative to /workspace, or
// absolute.
func workDir(dir string) string {
	if path.IsAbs(dir) {
		return path.Clean(dir)
	}
	return path.Join(Workspace, dir)
}

// WorkDir is dir as ExecOptions.Dir takes it, made absolute and checked to
// be a directory the project user can enter: a caller that types a command
// into a pane learns of a missing one before anything is typed.
func (b *Bridge) WorkDir(ctx context.Context, dir string) (string, error) {
	abs := workDir(dir)
	res, err := b.Exec(ctx, "true", ExecOptions{Dir: abs})
	if err != nil {
		return "", err
	}
	if !res.Success {
		return "", fmt.Errorf("working directory %s: cannot enter it", abs)
	}
	return abs, nil
}

// daemonLost tells a daemon that died under an exec from a command's own exit
// 255: the docker client exits 255 without a word when its daemon goes away,
// so the daemon is asked whether it still answers.
func (b *Bridge) daemonLost(ctx context.Context) error {
	_, err := b.docker.Output(ctx, "version", "--format", "{{.Server.Version}}")
	var cmdErr *dockercli.CmdError
	if !errors.Is(err, dockercli.ErrDaemon) || !errors.As(err, &cmdErr) {
		return nil
	}
	bin := b.docker.Bin
	if bin == "" {
		bin = "docker"
	}
	return &dockercli.CmdError{Args: []string{bin, "exec"}, Code: 255, Stderr: cmdErr.Stderr, Kind: dockercli.ErrDaemon}
}

// mergeEnv is base with over's values in place of base's for the same
// names, and over's other names after it. The container's --env goes to
// every exec as well: a container made without it, or with other values,
// would otherwise run the command without them and say nothing.
func mergeEnv(base, over []string) []string {
	if len(base) == 0 {
		return over
	}
	out := make([]string, 0, len(base)+len(over))
	at := map[string]int{}
	for _, e := range append(slices.Clone(base), over...) {
		name, _, _ := strings.Cut(e, "=")
		if i, ok := at[name]; ok {
			out[i] = e
			continue
		}
		at[name] = len(out)
		out = append(out, e)
	}
	return out
}

func captured(b *dockercli.CapBuffer) string {
	if b == nil {
		return ""
	}
	marker := fmt.Sprintf("\n[dockerbridge: %d bytes omitted]\n", b.Written()-int64(b.Max))
	return string(b.Bytes(marker))
}

func truncated(b *dockercli.CapBuffer) bool { return b != nil && b.Truncated() }

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// newID names one call's process in the container. It needs to be unique,
// not secret: the runtime's generator (ChaCha8, seeded by the kernel) gives
// that without crypto/rand, whose first read cost each call 30 to 50 µs.
func newID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return hex.EncodeToString(b[:])
}

// inContainer runs spec's command in the project's container through the
// door, run: under the context's deadline (or the bridge's timeout), killed
// in the container when it ends, and retried once after a lazy start when
// docker says the container is missing or stopped. Stdin is handed to docker
// as it is.
func (b *Bridge) inContainer(ctx context.Context, spec dockercli.ExecSpec, c dockercli.Cmd) (int, error) {
	return b.run(ctx, call{
		argv:        spec.Command,
		env:         spec.Env,
		mark:        true,
		interactive: spec.Interactive,
		stdin:       c.Stdin,
		stdout:      c.Stdout,
		stderr:      c.Stderr,
	})
}

// seekable reports a stdin that a retry can rewind itself, with no gate.
func seekable(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode().IsRegular()
}

// rewind makes stdin ready for a second attempt. Docker fails a missing or
// stopped container before it reads any input, so a file descriptor handed
// straight to it is still whole; other readers must say so themselves.
func rewind(r io.Reader) bool {
	switch r := r.(type) {
	case nil, *os.File:
		return true
	case interface{ Rewind() bool }:
		return r.Rewind()
	case io.Seeker:
		_, err := r.Seek(0, io.SeekStart)
		return err == nil
	}
	return false
}
