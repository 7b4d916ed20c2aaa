package dockercli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as the helper process instead of
// running the tests, so the real OSRunner has a program whose behaviour the
// test chooses.
const helperEnv = "DOCKERCLI_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper runs its argument words as a little program:
//
//	out TEXT | err TEXT   print to stdout / stderr
//	exit N                exit with N
//	cat                   copy stdin to stdout
//	env NAME              print $NAME
//	spam N                print N bytes
//	pid                   print the pid and a newline
//	trap                  report SIGTERM on stderr instead of dying of it
//	ready                 print "ready\n" on stdout
//	block                 sleep (an hour)
//	orphan FILE           start a blocking child that keeps stdout open, write its pid to FILE, exit 0
//	die                   kill itself with SIGKILL
func helper(args []string) int {
	for len(args) > 0 {
		word := args[0]
		args = args[1:]
		switch word {
		case "out", "err", "exit", "env", "spam":
			if len(args) == 0 {
				fmt.Fprintln(os.Stderr, "helper: missing argument")
				return 2
			}
			arg := args[0]
			args = args[1:]
			switch word {
			case "out":
				fmt.Print(arg)
			case "err":
				fmt.Fprint(os.Stderr, arg)
			case "env":
				fmt.Print(os.Getenv(arg))
			case "exit":
				n, _ := strconv.Atoi(arg)
				return n
			case "spam":
				n, _ := strconv.Atoi(arg)
				fmt.Print(strings.Repeat("x", n))
			}
		case "cat":
			if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
				return 2
			}
		case "pid":
			fmt.Println(os.Getpid())
		case "trap":
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGTERM)
			go func() {
				for range c {
					fmt.Fprintln(os.Stderr, "got TERM")
				}
			}()
		case "ready":
			fmt.Println("ready")
		case "block":
			time.Sleep(time.Hour)
		case "orphan":
			if len(args) == 0 {
				fmt.Fprintln(os.Stderr, "helper: missing argument")
				return 2
			}
			child := exec.Command(os.Args[0], "block")
			child.Stdout = os.Stdout
			if err := child.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			if err := os.WriteFile(args[0], []byte(strconv.Itoa(child.Process.Pid)), 0o600); err != nil {
				_ = child.Process.Kill()
				return 2
			}
			return 0
		case "die":
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		default:
			fmt.Fprintf(os.Stderr, "helper: unknown word %q\n", word)
			return 2
		}
	}
	return 0
}

// helperCmd is a Cmd that runs the helper with words.
func helperCmd(words ...string) Cmd {
	return Cmd{Args: append([]string{os.Args[0]}, words...), Env: []string{helperEnv + "=1"}}
}

func TestOSRunnerExitCodesAndStreams(t *testing.T) {
	tests := []struct {
		name       string
		words      []string
		stdin      io.Reader
		env        []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "success", words: []string{"out", "hi"}, wantStdout: "hi"},
		{name: "exit 1", words: []string{"exit", "1"}, wantCode: 1},
		{name: "exit 3", words: []string{"exit", "3"}, wantCode: 3},
		{name: "exit 125", words: []string{"err", "docker: bad\n", "exit", "125"}, wantCode: 125, wantStderr: "docker: bad\n"},
		{
			name:       "stdout and stderr go apart",
			words:      []string{"out", "to out\n", "err", "to err\n", "out", "more out", "exit", "2"},
			wantCode:   2,
			wantStdout: "to out\nmore out",
			wantStderr: "to err\n",
		},
		{name: "stdin", words: []string{"cat"}, stdin: strings.NewReader("line 1\nline\x002\xff"), wantStdout: "line 1\nline\x002\xff"},
		{name: "no stdin reads nothing", words: []string{"cat", "out", "end"}, wantStdout: "end"},
		{name: "env is added", words: []string{"env", "DOCKERCLI_TEST_X"}, env: []string{"DOCKERCLI_TEST_X=a b=c"}, wantStdout: "a b=c"},
		{name: "env is inherited", words: []string{"env", "PATH"}, wantStdout: os.Getenv("PATH")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := helperCmd(tt.words...)
			c.Stdin, c.Stdout, c.Stderr = tt.stdin, &stdout, &stderr
			c.Env = append(c.Env, tt.env...)
			code, err := OSRunner{}.Run(t.Context(), c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.wantStdout)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// Nil writers discard the output: the process must not fail writing it.
func TestOSRunnerNilWriters(t *testing.T) {
	code, err := OSRunner{}.Run(t.Context(), helperCmd("spam", "1048576", "err", "y", "exit", "4"))
	if err != nil || code != 4 {
		t.Errorf("Run = %d, %v; want 4, nil", code, err)
	}
}

func TestOSRunnerNotFound(t *testing.T) {
	for _, bin := range []string{"dockerbridge-test-no-such-binary", "/nonexistent/dir/docker"} {
		t.Run(bin, func(t *testing.T) {
			code, err := OSRunner{}.Run(t.Context(), Cmd{Args: []string{bin, "ps"}})
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			if code != -1 {
				t.Errorf("code = %d, want -1", code)
			}
			if err != nil && !strings.Contains(err.Error(), bin) {
				t.Errorf("err = %q, want it to name %s", err, bin)
			}
		})
	}
}

func TestOSRunnerEmptyArgv(t *testing.T) {
	if _, err := (OSRunner{}).Run(t.Context(), Cmd{}); err == nil {
		t.Error("Run with no argv: no error")
	}
}

// A context that is already over starts nothing, not even a lookup.
func TestOSRunnerContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := OSRunner{}.Run(ctx, Cmd{Args: []string{"dockerbridge-test-no-such-binary"}})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A process killed by a signal of its own has no exit code: that is an
// error, never a code a caller could take for the command's.
func TestOSRunnerSignalled(t *testing.T) {
	code, err := OSRunner{}.Run(t.Context(), helperCmd("die"))
	if err == nil || code != -1 {
		t.Errorf("Run = %d, %v; want -1 and an error", code, err)
	}
}

// onReady is a writer that calls fn once "ready\n" has been written, and
// collects what was written before it.
type onReady struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func()
	hit bool
}

func (w *onReady) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.hit && strings.Contains(w.buf.String(), "ready\n") {
		w.hit = true
		w.fn()
	}
	return len(p), nil
}

func (w *onReady) pid(t *testing.T) int {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	line, _, _ := strings.Cut(w.buf.String(), "\n")
	pid, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("no pid in the helper's output %q", w.buf.String())
	}
	return pid
}

// gone checks that the process pid no longer exists. Run has waited for it,
// so it is reaped, not a zombie.
func gone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("process %d still exists after Run returned (kill 0: %v)", pid, err)
	}
}

// manualDeadline is a context whose deadline passes when expire is called,
// so a test can let it pass exactly once the process is ready.
type manualDeadline struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newManualDeadline(parent context.Context) *manualDeadline {
	return &manualDeadline{Context: parent, done: make(chan struct{})}
}

func (m *manualDeadline) Done() <-chan struct{} { return m.done }
func (m *manualDeadline) expire()               { m.once.Do(func() { close(m.done) }) }
func (m *manualDeadline) Err() error {
	select {
	case <-m.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func TestOSRunnerCancel(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		// trapped: the process survives SIGTERM and must be killed after
		// WaitDelay.
		trapped bool
	}{
		{name: "a process that dies of SIGTERM", words: []string{"pid", "ready", "block"}},
		{name: "a process that traps SIGTERM", words: []string{"pid", "trap", "ready", "block"}, trapped: true},
	}
	for _, tt := range tests {
		for _, deadline := range []bool{false, true} {
			name := tt.name + ", cancelled"
			if deadline {
				name = tt.name + ", deadline"
			}
			t.Run(name, func(t *testing.T) {
				var ctx context.Context
				var end func()
				want := context.Canceled
				if deadline {
					m := newManualDeadline(t.Context())
					ctx, end, want = m, m.expire, context.DeadlineExceeded
				} else {
					ctx, end = context.WithCancel(t.Context())
				}
				stdout := &onReady{fn: end}
				var stderr bytes.Buffer
				c := helperCmd(tt.words...)
				c.Stdout, c.Stderr = stdout, &stderr
				code, err := OSRunner{WaitDelay: 2 * time.Second}.Run(ctx, c)
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want errors.Is %v", err, want)
				}
				if code != -1 {
					t.Errorf("code = %d, want -1", code)
				}
				if !stdout.hit {
					t.Fatalf("the helper never got ready; stdout %q, stderr %q", stdout.buf.String(), stderr.String())
				}
				gone(t, stdout.pid(t))
				// SIGTERM came first, then the kill.
				if got := strings.Contains(stderr.String(), "got TERM"); got != tt.trapped {
					t.Errorf("stderr = %q; reported SIGTERM: %v, want %v", stderr.String(), got, tt.trapped)
				}
			})
		}
	}
}

// A real timeout, not a hand-made one: the error still says so.
func TestOSRunnerTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	code, err := OSRunner{}.Run(ctx, helperCmd("block"))
	if !errors.Is(err, context.DeadlineExceeded) || code != -1 {
		t.Errorf("Run = %d, %v; want -1, context.DeadlineExceeded", code, err)
	}
}

// A process that exits while a child it left behind holds stdout open: the
// code stands once WaitDelay has closed the pipes.
func TestOSRunnerOrphanHoldsPipe(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	var stdout bytes.Buffer
	c := helperCmd("orphan", pidFile)
	c.Stdout = &stdout
	code, err := OSRunner{WaitDelay: 300 * time.Millisecond}.Run(t.Context(), c)
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		pid, _ := strconv.Atoi(string(b))
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	} else {
		t.Errorf("no child pid: %v", rerr)
	}
	if err != nil || code != 0 {
		t.Errorf("Run = %d, %v; want 0, nil", code, err)
	}
}
