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
		{"watch", watchScript, []int{0}}, // and the snapshot command's status
		{"state", stateScript, []int{127}},
		{"transcript", transcriptScript, []int{0, 1}},
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
