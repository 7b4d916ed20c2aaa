package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// exitsOf is the set of codes the scripts name in an "exit N".
func exitsOf(scripts ...string) []int {
	re := regexp.MustCompile(`\bexit ([0-9]+)\b`)
	var codes []int
	for _, s := range scripts {
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			n, _ := strconv.Atoi(m[1])
			if !slices.Contains(codes, n) {
				codes = append(codes, n)
			}
		}
	}
	slices.Sort(codes)
	return codes
}

// Every embedded script exits only with the codes of its table (and the
// generic ones it names), and every code of a table is used.
func TestEmbeddedScriptExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scripts []string
		want    []int
	}{
		{"git", []string{scriptGit, scriptSnapshot, scriptSnapshotList, scriptSnapshotDiff, scriptSnapshotRestore, scriptCommit},
			[]int{0, exitGitSetup, exitGit, exitNoSnapshot, exitNoRepo}},
		// 1: mkdir failed; 2: an unknown verb; both end as a message.
		{"job", []string{jobScript}, []int{0, 1, 2, jobNoSuch, jobRunning, jobTimeout}},
		{"wrap", []string{wrapScript}, []int{exitMissing}},
		{"kill", []string{killScript}, []int{0}},
		{"long", []string{longScript}, []int{1}},
	} {
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if diff := cmp.Diff(want, exitsOf(tc.scripts...)); diff != "" {
			t.Errorf("%s: exit codes (-table +scripts):\n%s", tc.name, diff)
		}
	}
}

// Each git script is git.bash followed by its own file, and the file
// scripts and git scripts stay in their own tables: the git scripts' 95 is
// not a directory.
func TestGitScriptsAreThePreludeAndTheirFile(t *testing.T) {
	for name, s := range map[string]string{
		"snapshot": snapshotScript(), "snapshot ls": snapshotListScript(), "snapshot diff": snapshotDiffScript(),
		"snapshot restore": snapshotRestoreScript(), "commit": commitScript(),
	} {
		if !strings.HasPrefix(s, scriptGit) || len(s) == len(scriptGit) {
			t.Errorf("%s: not git.bash followed by its own text", name)
		}
	}
	if exitGitSetup != exitSetup {
		t.Errorf("the git scripts' 94 is read as the file scripts' exitSetup (%d)", exitSetup)
	}
}

// runBash runs script as bash -c with args and returns its exit code,
// stdout and stderr.
func runBash(t *testing.T, env []string, script string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// The wrapper prints the marks the Go side looks for: startMark, its pid
// and a NUL on both streams before the program's output, and missingMark
// with exitMissing for a program the image lacks.
func TestWrapScriptMarks(t *testing.T) {
	code, stdout, stderr := runBash(t, nil, wrapScript, "dockerbridge", "0", "printf", "--", "printf", "out")
	if code != 0 {
		t.Fatalf("exit %d: %q", code, stderr)
	}
	rest, ok := strings.CutPrefix(stdout, startMark)
	pid, out, _ := strings.Cut(rest, "\x00")
	if !ok || pid == "" || strings.Trim(pid, "0123456789") != "" || out != "out" {
		t.Errorf("stdout %q: want the start mark, a pid, NUL, then the program's output", stdout)
	}
	if want := startMark + pid + "\x00"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	st := &started{}
	w := &startWriter{w: &bytes.Buffer{}, st: st, pre: &bytes.Buffer{}}
	w.Write([]byte(stdout))
	if !st.is() || st.pidOf() != pid {
		t.Errorf("the door does not read the wrapper's mark %q: started %v, pid %q", stdout, st.is(), st.pidOf())
	}

	code, stdout, stderr = runBash(t, nil, wrapScript, "dockerbridge", "0", "true", "dockerbridge-no-such-program", "--", "true")
	if code != exitMissing || stdout != "" || stderr != missingMark+"dockerbridge-no-such-program\n" {
		t.Errorf("a missing program: exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, exitMissing, missingMark+"dockerbridge-no-such-program")
	}
}

// procEnviron reports whether pid's environment holds kv; false once the
// process is gone.
func procEnviron(pid int, kv string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return err == nil && slices.Contains(strings.Split(string(b), "\x00"), kv)
}

// The kill script finds processes by the exec id in ExecIDVar, the variable
// the door sets: a process that carries it dies, one with another id lives.
func TestKillScriptFindsTheExecIDVar(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no /proc: CI runs on Linux with bash and /proc, where this is never skipped")
		}
		t.Skip("no /proc")
	}
	id := newID()
	start := func(v string) *exec.Cmd {
		t.Helper()
		c := exec.Command("sleep", "60")
		c.Env = append(os.Environ(), ExecIDVar+"="+v)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	otherID := newID()
	target, other := start(id), start(otherID)
	done := make(chan error, 1)
	go func() { done <- target.Wait() }()
	if code, _, stderr := runBash(t, nil, killScript, "bash", id, ""); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the process with %s=%s still runs after the kill script", ExecIDVar, id)
	}
	if !procEnviron(other.Process.Pid, ExecIDVar+"="+otherID) {
		t.Errorf("the kill script ended a process with another exec id")
	}
}

// A job's processes carry its exec id in ExecIDVar, so that the kill finds
// them.
func TestJobScriptSetsTheExecIDVar(t *testing.T) {
	root := t.TempDir()
	id := newID()
	cmd := "printf %s= " + ExecIDVar + " && printenv " + ExecIDVar
	if code, _, stderr := runBash(t, nil, jobScript, "dockerbridge-job", "start", root, "j", id, cmd); code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	code, out, stderr := runBash(t, nil, jobScript, "dockerbridge-job", "wait", root, "j", "30")
	if code != 0 || !strings.HasPrefix(out, "j\texited\t0\t") {
		t.Fatalf("wait: exit %d: %q %s", code, out, stderr)
	}
	log, _ := os.ReadFile(filepath.Join(root, "j", "log"))
	if want := ExecIDVar + "=" + id + "\n"; string(log) != want {
		t.Errorf("the job's environment holds %q, want %q", log, want)
	}
}

// A job's pid that another process has taken since (a container restart)
// does not make the job running: the start time must match too.
func TestJobScriptPidReused(t *testing.T) {
	root := t.TempDir()
	if code, _, stderr := runBash(t, nil, jobScript, "dockerbridge-job", "start", root, "j", newID(), "sleep 60"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	pidFile := filepath.Join(root, "j", "pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The job leads a session of its own: end its whole group.
	t.Cleanup(func() { runBash(t, nil, `kill -KILL -- "-$1"`, "bash", strconv.Itoa(pid)) })
	if _, out, _ := runBash(t, nil, jobScript, "dockerbridge-job", "info", root, "j"); !strings.HasPrefix(out, "j\trunning\t") {
		t.Fatalf("info of the job = %q, want running", out)
	}
	// The test process, alive, stands for the process that has the pid now.
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := runBash(t, nil, jobScript, "dockerbridge-job", "info", root, "j"); !strings.HasPrefix(out, "j\tlost\t") {
		t.Errorf("info of a job whose pid was reused = %q, want lost", out)
	}
}

// The kill's SIGTERM can let a job's runner record the status it died with
// before the kill is recorded: a job that was running when the kill began
// is killed, status 137, all the same; one that had ended keeps its status.
func TestJobScriptKilledAfterItsOwnStatus(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct{ running, want string }{{"1", "j\tkilled\t137\t"}, {"0", "j\texited\t143\t"}} {
		d := filepath.Join(root, "j")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range map[string]string{"cmd": "sleep 60\n", "exit": "143\n", "ended": "1\n"} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_ = os.Remove(filepath.Join(d, "killed"))
		code, out, stderr := runBash(t, nil, jobScript, "dockerbridge-job", "killed", root, "j", tc.running)
		if code != 0 || !strings.HasPrefix(out, tc.want) {
			t.Errorf("killed j %s: exit %d, %q (%s); want %q", tc.running, code, out, stderr, tc.want)
		}
	}
}
