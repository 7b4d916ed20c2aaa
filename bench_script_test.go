package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// benchLayout is every row scripts/bench writes and the figures of each, in
// order. It is kept here as well as in the harness so that a row the
// harness stops producing fails this test.
var benchLayout = []struct {
	id      string
	figures []string
}{
	{"overhead", []string{"own_cost"}},
	{"warm_exec", []string{"time"}},
	{"cold_start", []string{"time"}},
	{"write", []string{"time", "peak_rss"}},
	{"read", []string{"time", "peak_rss"}},
	{"reap", []string{"time", "docker_calls"}},
	{"concurrent_cold", []string{"successes", "time"}},
	{"tmux_run", []string{"time"}},
	{"tmux_state", []string{"time"}},
	{"tmux_wait_idle", []string{"delay", "polls_per_second"}},
	{"scale", []string{"exec_n0", "exec_n1", "exec_n2", "reap_n0", "reap_n1", "reap_n2"}},
	{"fleet", []string{"ps", "reap"}},
	{"egress", []string{"http", "connect"}},
}

// pythonNA are the figures where the Python original has nothing to
// compare, whether or not it is found.
var pythonNA = map[string]bool{"overhead": true, "tmux_run": true, "tmux_state": true, "tmux_wait_idle": true, "scale": true, "fleet": true, "egress": true}

// noOriginal is what the Python columns, and the targets measured against
// Python, say when no original is given.
const noOriginal = "original not given"

type benchSubject struct {
	Median *float64 `json:"median"`
	NA     string   `json:"na"`
}

type benchFigure struct {
	Name         string        `json:"name"`
	Dockerbridge *benchSubject `json:"dockerbridge"`
	Docker       *benchSubject `json:"docker"`
	Python       *benchSubject `json:"python"`
	Target       *struct {
		Value *float64 `json:"value"`
		Met   *bool    `json:"met"`
		NA    string   `json:"na"`
	} `json:"target"`
}

type benchRow struct {
	ID      string        `json:"id"`
	Title   string        `json:"title"`
	Figures []benchFigure `json:"figures"`
}

type benchReport struct {
	Mode     string     `json:"mode"`
	RunID    string     `json:"run_id"`
	Original *string    `json:"original"`
	Rows     []benchRow `json:"rows"`
	Errors   []string   `json:"errors"`
}

// TestBenchScript runs scripts/bench --quick against the real engine and
// checks that it writes every row and figure, each with a value, and leaves
// no container behind. It checks the harness's structure, never its times.
// The Python original is not part of the repository: with
// DOCKERBRIDGE_ORIGINAL pointing at one its columns must have values, and
// without it they, and the targets measured against it, must say n/a.
func TestBenchScript(t *testing.T) {
	skipShortReal(t)
	if os.Getenv("CI") == "" && os.Getenv("DOCKERBRIDGE_REAL_ENGINE") == "" && os.Getenv("DOCKERBRIDGE_BENCH") == "" {
		t.Skip("scripts/bench --quick takes a minute or two: set DOCKERBRIDGE_BENCH=1 (scripts/test and CI=true always run it)")
	}
	requireEngine(t)
	out := t.TempDir()
	limit := 6 * time.Minute
	if d, ok := t.Deadline(); ok && time.Until(d)-30*time.Second < limit {
		limit = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("scripts", "bench"), "--quick", "--out", out)
	// The whole group gets SIGTERM on a deadline, so that the harness and
	// the script's trap both run and remove the containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/bench --quick: %v\n%s", err, stderr.String())
	}

	data, err := os.ReadFile(filepath.Join(out, "BENCHMARKS.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("BENCHMARKS.json: %v", err)
	}
	if rep.Mode != "quick" || len(rep.Errors) > 0 {
		t.Errorf("mode %q, errors %q: want quick and none", rep.Mode, rep.Errors)
	}
	haveOriginal := os.Getenv("DOCKERBRIDGE_ORIGINAL") != ""
	if got := rep.Original != nil; got != haveOriginal {
		t.Errorf("original reported %v, want %v (DOCKERBRIDGE_ORIGINAL=%q)", got, haveOriginal, os.Getenv("DOCKERBRIDGE_ORIGINAL"))
	}

	var want, got []string
	for _, r := range benchLayout {
		for _, f := range r.figures {
			want = append(want, r.id+"."+f)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if !strings.Contains(string(md), r.Title) {
			t.Errorf("BENCHMARKS.md does not mention row %s (%q)", r.ID, r.Title)
		}
		for _, f := range r.Figures {
			got = append(got, r.ID+"."+f.Name)
			checkFigure(t, r.ID, f, haveOriginal)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows.figures (-want +got):\n%s", diff)
	}
	if !haveOriginal && !strings.Contains(string(md), "n/a ("+noOriginal+")") {
		t.Errorf("BENCHMARKS.md does not say n/a (%s)", noOriginal)
	}
	for _, section := range []string{"## Targets", "## Results", "## Scale", "| Figure | dockerbridge | raw docker | Python original |"} {
		if !strings.Contains(string(md), section) {
			t.Errorf("BENCHMARKS.md lacks %q", section)
		}
	}

	if rep.RunID == "" {
		t.Fatal("BENCHMARKS.json has no run_id")
	}
	names, err := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range strings.Fields(string(names)) {
		if strings.HasPrefix(n, "luzia-bench-"+rep.RunID+"-") {
			t.Errorf("container %s left behind", n)
		}
	}
	nets, err := exec.Command("docker", "network", "ls", "--format", "{{.Name}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range strings.Fields(string(nets)) {
		if strings.HasPrefix(n, "luzia-bench-"+rep.RunID+"-") {
			t.Errorf("network %s left behind", n)
		}
	}
}

func checkFigure(t *testing.T, row string, f benchFigure, haveOriginal bool) {
	t.Helper()
	name := row + "." + f.Name
	if f.Dockerbridge == nil || f.Dockerbridge.Median == nil {
		t.Errorf("%s: no dockerbridge value", name)
	}
	if f.Docker == nil || (f.Docker.Median == nil && f.Docker.NA == "") {
		t.Errorf("%s: raw docker has neither a value nor a reason for none", name)
	}
	switch {
	case f.Python == nil:
		t.Errorf("%s: no Python entry", name)
	case pythonNA[row]:
		if f.Python.NA == "" {
			t.Errorf("%s: Python should say why it has no value", name)
		}
	case haveOriginal && f.Python.Median == nil:
		t.Errorf("%s: the original exists but has no value (%q)", name, f.Python.NA)
	case !haveOriginal && f.Python.NA != noOriginal:
		t.Errorf("%s: Python says %q, want %q", name, f.Python.NA, noOriginal)
	}
	switch {
	case f.Target == nil:
	case f.Target.NA != "":
		// Only a target against Python may go unmeasured, and only
		// without the original.
		if haveOriginal || f.Target.NA != noOriginal || f.Target.Value != nil || f.Target.Met != nil {
			t.Errorf("%s: target n/a (%q), value %v, met %v, with the original given: %v", name, f.Target.NA, f.Target.Value, f.Target.Met, haveOriginal)
		}
	case f.Target.Value == nil || f.Target.Met == nil:
		t.Errorf("%s: a target with no measured value", name)
	}
}

// BenchmarkCLIExecNoDocker is a whole exec through the CLI with docker
// replaced by /bin/true: flag parsing, the bridge, the state directory and
// one process start. It is what dockerbridge adds to each docker exec.
func BenchmarkCLIExecNoDocker(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	args := []string{"--docker", "/bin/true", "--state-dir", b.TempDir(), "-p", "bench", "--path", b.TempDir(), "exec", "--", "true"}
	b.ReportAllocs()
	for b.Loop() {
		if code := run(context.Background(), args, devnull, devnull, devnull); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// execArgs are the flags of a typical exec.
var execArgs = []string{"-p", "bench", "--path", "/srv/bench", "--json", "exec", "--", "make", "test"}

// BenchmarkCLIParse is building the command line parser and parsing one
// exec's flags: the part of every call before any work.
func BenchmarkCLIParse(b *testing.B) {
	benchParse(b, func(exit func(int)) (*kong.Context, error) {
		_, k, err := parse(execArgs, io.Discard, io.Discard, exit)
		return k, err
	})
}

// BenchmarkCLIParseWhole is the same against the whole command tree, as
// help and a rejected command line take it.
func BenchmarkCLIParseWhole(b *testing.B) {
	benchParse(b, func(exit func(int)) (*kong.Context, error) {
		_, k, err := parseWhole(execArgs, kongOptions(io.Discard, io.Discard, exit))
		return k, err
	})
}

func benchParse(b *testing.B, parse func(exit func(int)) (*kong.Context, error)) {
	b.ReportAllocs()
	for b.Loop() {
		exited := false
		k, err := parse(func(int) { exited = true })
		if err != nil || exited || k.Command() != "exec <command>" {
			b.Fatalf("parse: %v, exited %v", err, exited)
		}
	}
}

// BenchmarkCLIVersion is a whole call of --version in process.
func BenchmarkCLIVersion(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	b.ReportAllocs()
	for b.Loop() {
		if code := run(context.Background(), []string{"--version"}, devnull, devnull, devnull); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// TestNothingOutsideTheRepository: a clone must work on its own, so no file
// of the repository may refer to a sibling directory of it, where only a
// developer's machine has something.
func TestNothingOutsideTheRepository(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Spelt in two halves, so that this file does not match itself.
		outside := ".." + "/shared/"
		if i := strings.Index(string(data), outside); i >= 0 {
			line := 1 + strings.Count(string(data[:i]), "\n")
			t.Errorf("%s:%d refers to %s, outside the repository", path, line, outside)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
