package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// ExecIDVar marks every process an exec starts, so that all of them can be
// found and killed in the container on a timeout or an interrupt, even those
// that left the process group.
const ExecIDVar = "DOCKERBRIDGE_EXEC_ID"

// killScript stops, then kills, every process whose environment carries the
// exec id given as $1. Stopping first keeps a forking command from outrunning
// the loop. It uses only bash builtins: a fork per process made it take
// longer than the kill's deadline in a container with many processes.
const killScript = `id="` + ExecIDVar + `=$1"
for sig in STOP KILL; do
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$$" ] && continue
    { while IFS= read -r -d '' e; do
      [ "$e" = "$id" ] && { kill -s "$sig" "$pid"; break; }
    done <"$p/environ"; } 2>/dev/null
  done
done
exit 0`

// ExecOptions tune one Exec.
type ExecOptions struct {
	// Timeout bounds the command; zero takes the bridge's.
	Timeout time.Duration
	// Stdin, when set, is attached to the command.
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the output live and nothing is
	// captured. Otherwise each stream is captured up to the output cap.
	Stdout, Stderr io.Writer
}

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
	id := newID()
	spec := dockercli.ExecSpec{
		Interactive: opt.Stdin != nil,
		Env:         []string{ExecIDVar + "=" + id},
		Command:     []string{"bash", "-c", command},
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
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := b.inContainer(runCtx, spec, dockercli.Cmd{Stdin: opt.Stdin, Stdout: stdout, Stderr: stderr})
	if err != nil && runCtx.Err() != nil {
		b.kill(ctx, id)
		if ctx.Err() != nil {
			return ExecResult{ExitCode: -1}, fmt.Errorf("exec: %w", ErrInterrupted)
		}
		return ExecResult{
			ExitCode: -1,
			Output:   captured(outBuf),
			Error:    "Command timed out after " + seconds(timeout),
			TimedOut: true,
		}, nil
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

// kill ends every process of exec id in the container. It runs after the
// caller's context is over, so it gets its own short deadline.
func (b *Bridge) kill(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_, _ = b.docker.Output(ctx, dockercli.ExecArgs(dockercli.ExecSpec{
		Container: b.Name(),
		Command:   []string{"bash", "-c", killScript, "bash", id},
	})...)
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

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inContainer runs one docker exec of spec in the project's container and
// returns the exit code of the command. There is no inspect first: when
// docker says the container is missing or stopped, it is ensured and the exec
// retried once. Docker's own failures come back as errors, never as the
// command's exit code.
func (b *Bridge) inContainer(ctx context.Context, spec dockercli.ExecSpec, c dockercli.Cmd) (int, error) {
	spec.Container = b.Name()
	busy, err := b.state.Enter(ctx, spec.Container)
	if err != nil {
		return -1, err
	}
	defer busy.Leave()
	args := dockercli.ExecArgs(spec)
	for attempt := 0; ; attempt++ {
		held := &heldWriter{w: c.Stderr}
		cmd := c
		cmd.Stderr = held
		code, err := b.docker.Stream(ctx, args, cmd)
		if err != nil {
			return code, err
		}
		kind := held.dockerError(code)
		if kind == nil {
			held.flush()
			return code, nil
		}
		retry := errors.Is(kind, dockercli.ErrNoSuchContainer) || errors.Is(kind, dockercli.ErrNotRunning)
		if attempt == 0 && retry && rewind(c.Stdin) {
			if _, err := b.Ensure(ctx); err != nil {
				return -1, err
			}
			continue
		}
		return code, b.docker.Error(args, code, held.buf.String())
	}
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

// heldWriter passes stderr through, except for a first line that may be
// docker's own error: that is held until it is known, so that a retried
// "No such container" never reaches the user.
type heldWriter struct {
	w       io.Writer
	buf     bytes.Buffer
	passing bool
}

var dockerPrefixes = []string{"Error", "error during connect", "Cannot connect", "OCI runtime", "docker:",
	"Got permission denied", "permission denied while"} // a socket the user may not open

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.passing {
		return h.out(p)
	}
	h.buf.Write(p)
	held := h.buf.Bytes()
	line, _, complete := bytes.Cut(held, []byte("\n"))
	if !mayBeDocker(held) || h.buf.Len() > 8<<10 || (complete && dockercli.Classify(string(line)) == nil) {
		h.flush()
	}
	return len(p), nil
}

func (h *heldWriter) out(p []byte) (int, error) {
	if h.w == nil {
		return len(p), nil
	}
	return h.w.Write(p)
}

func (h *heldWriter) flush() {
	if !h.passing {
		h.passing = true
		_, _ = h.out(h.buf.Bytes())
	}
}

// dockerError classifies a held stderr after a non-zero exit.
func (h *heldWriter) dockerError(code int) error {
	if code == 0 || h.passing {
		return nil
	}
	return dockercli.Classify(h.buf.String())
}

func mayBeDocker(b []byte) bool {
	for _, p := range dockerPrefixes {
		n := min(len(b), len(p))
		if string(b[:n]) == p[:n] {
			return true
		}
	}
	return false
}

// errorLine is the first line of a command's stderr, for error messages.
func errorLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
