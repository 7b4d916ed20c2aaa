package tmuxcli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every embedded script exits only with the codes the Go side names, and
// every code named is used.
func TestEmbeddedScriptExitCodes(t *testing.T) {
	re := regexp.MustCompile(`\bexit ([0-9]+)\b`)
	for _, tc := range []struct {
		name   string
		script string
		want   []int
	}{
		{"log", transcriptRead, []int{transcriptNone}},
		{"watch", watchScript, []int{0}}, // and the screen command's status
		{"state", stateScript, []int{127}},
		{"transcript", transcriptScript, []int{0, 1}},
		{"run", runScript + runExitScript, nil},
	} {
		var got []int
		for _, m := range re.FindAllStringSubmatch(tc.script, -1) {
			n, _ := strconv.Atoi(m[1])
			if !slices.Contains(got, n) {
				got = append(got, n)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: exit codes (-Go +script):\n%s", tc.name, diff)
		}
	}
}

// The log script prints the rotated part first, and exits transcriptNone
// when there is no transcript.
func TestLogScript(t *testing.T) {
	dir := t.TempDir()
	run := func(path string) (int, string) {
		t.Helper()
		cmd := exec.Command("bash", "-c", transcriptRead, "dockerbridge-log", path)
		var o bytes.Buffer
		cmd.Stdout = &o
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), o.String()
	}
	if code, _ := run(filepath.Join(dir, "none.log")); code != transcriptNone {
		t.Errorf("no transcript: exit %d, want %d", code, transcriptNone)
	}
	p := filepath.Join(dir, "s.log")
	os.WriteFile(p+".1", []byte("old\n"), 0o600)
	os.WriteFile(p, []byte("new\n"), 0o600)
	if code, out := run(p); code != 0 || out != "old\nnew\n" {
		t.Errorf("exit %d, output %q; want 0 and the rotated part first", code, out)
	}
}

// markerScript fills every placeholder of run.bash and run-exit.bash, and
// makes one line of them: the shell must read it whole before it runs any.
func TestRunScriptFillsTheTemplate(t *testing.T) {
	placeholder := regexp.MustCompile(`@[A-Z_]+@`)
	for _, s := range []string{runScript, runExitScript} {
		if len(placeholder.FindAllString(s, -1)) == 0 {
			t.Fatalf("no placeholder in %q", s)
		}
	}
	// A command that names a placeholder keeps it: it is not a template.
	line := markerScript("echo @ID@ @SIGNAL@", "db-7", "sig")
	if strings.Contains(line, "\n") {
		t.Errorf("markerScript is more than one line: %q", line)
	}
	if got := placeholder.FindAllString(line, -1); !slices.Equal(got, []string{"@ID@", "@SIGNAL@"}) {
		t.Errorf("placeholders left in %q: %q", line, got)
	}
	if !strings.Contains(line, "command eval 'echo @ID@ @SIGNAL@'") {
		t.Errorf("the command is not one quoted word after command eval: %q", line)
	}
	// The markers the shell prints are the ones runParse looks for.
	for _, m := range []string{"printf '%s-%s\\n' DBS db-7", "printf '\\n%s-%s %s\\n' DBE db-7"} {
		if !strings.Contains(line, m) {
			t.Errorf("no %q in %q", m, line)
		}
	}
	if startMarker("db-7") != "DBS-db-7" || endMarker("db-7") != "DBE-db-7 " {
		t.Errorf("the markers %q and %q are not what run.bash prints", startMarker("db-7"), endMarker("db-7"))
	}
}
