package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The scripts' exit codes and the one table in files.go agree: every code a
// script uses is in the table, and every entry is used.
func TestScriptExitTable(t *testing.T) {
	table := []int{exitNotFound, exitNotFile, exitOutside, exitShort, exitSetup, exitIsDir, exitDenied, exitMode, exitNotDir}
	used := map[int]bool{}
	for _, n := range exitsOf(scriptCommon, scriptWrite, scriptRead, scriptList, scriptGrep) {
		if n < 90 || n > 99 {
			continue
		}
		if !slices.Contains(table, n) {
			t.Errorf("a script exits %d, which the table does not name", n)
		}
		used[n] = true
	}
	for _, n := range table {
		if !used[n] {
			t.Errorf("exit code %d is in the table but no script uses it", n)
		}
		if err := scriptError("op", "p", n, ""); ErrorKind(err) == "" && n != exitShort && n != exitSetup && n != exitMode {
			t.Errorf("exit %d: error %v has no kind", n, err)
		}
	}
}

// startTime is field 22 of /proc/PID/stat: with the pid it names a process
// for as long as it lives.
func startTime(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return f[19]
}

// A temp file whose writer is gone is removed by the next write into its
// directory; one of a live writer, and a name the tool does not make, stay.
func TestWriteScriptRemovesStaleTemps(t *testing.T) {
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	me := os.Getpid()
	live := fmt.Sprintf(".dockerbridge-write.%d.%s.7", me, startTime(t, me))
	stale := []string{
		".dockerbridge-write.999999999.1.1",               // no such process
		fmt.Sprintf(".dockerbridge-write.%d.12345.8", me), // the pid, reused since
	}
	// Names the script does not make are the user's, however close: only
	// a provably abandoned temp file may go.
	keep := []string{live, ".dockerbridge-write.notes",
		".dockerbridge-write.2024.01.backup",
		".dockerbridge-write.1.2",
		".dockerbridge-write.22.1288024400",
		".dockerbridge-write.1.02.3",
		".dockerbridge-write.999999999.1.1.bak",
		".dockerbridge-write.1.0.5",                   // no start time: cannot be checked
		".dockerbridge-write.999999999.99999999999.1", // started after the writer
	}
	for _, n := range append(slices.Clone(stale), keep...) {
		os.WriteFile(filepath.Join(ws, n), []byte("partial"), 0o600)
	}
	code, _, stderr := runScript(t, ws, writeScript(), strings.NewReader("2\nok0\n"), "0", "/workspace/f.txt")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var left []string
	entries, _ := os.ReadDir(ws)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := append(slices.Clone(keep), "f.txt")
	slices.Sort(want)
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("files after the write (-want +got):\n%s", diff)
	}
}

// busyboxPath makes a directory of busybox's applets and bash, to stand for
// a busybox image's PATH.
func busyboxPath(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("busybox is required under CI (scripts/setup installs busybox-static): %v", err)
		}
		t.Skip("no busybox: run scripts/setup")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, a := range strings.Fields(string(out)) {
		if a != "bash" {
			os.Symlink(bb, filepath.Join(dir, a))
		}
	}
	os.Symlink(bash, filepath.Join(dir, "bash"))
	return dir
}

// Every file script works with busybox's tools instead of GNU's: no
// realpath -m, head -z or chmod --reference.
func TestFileScriptsOnBusybox(t *testing.T) {
	path := busyboxPath(t)
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	run := func(script string, stdin string, args ...string) (int, string, string) {
		t.Helper()
		argv := []string{"-c", strings.ReplaceAll(script, Workspace, ws), "bash", "0"}
		for _, a := range args {
			argv = append(argv, strings.ReplaceAll(a, Workspace, ws))
		}
		cmd := exec.Command("bash", argv...)
		cmd.Env = append(os.Environ(), "PATH="+path)
		cmd.Dir = ws
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}
	if code, _, stderr := run(writeScript(), "6\nhello\n0\n", "/workspace/new/dir/f.txt"); code != 0 {
		t.Fatalf("write a new file: exit %d: %s", code, stderr)
	}
	target := filepath.Join(ws, "new", "dir", "f.txt")
	if got, _ := os.ReadFile(target); string(got) != "hello\n" {
		t.Errorf("written %q", got)
	}
	os.Chmod(target, 0o640)
	if code, _, stderr := run(writeScript(), "4\nbye\n0\n", "/workspace/new/dir/f.txt"); code != 0 {
		t.Fatalf("overwrite: exit %d: %s", code, stderr)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("overwritten file mode %v, want 0640", fi.Mode().Perm())
	}
	if code, out, stderr := run(readScript(), "", "/workspace/new/dir/f.txt"); code != 0 || out != "bye\n" {
		t.Errorf("read: exit %d, %q, %s", code, out, stderr)
	}
	if code, out, stderr := run(listScript(), "", "/workspace/new", "*", "101"); code != 0 || out != "D\x00./dir/f.txt\x00" {
		t.Errorf("ls: exit %d, %q, %s", code, out, stderr)
	}
	if code, out, stderr := run(grepScript(), "", "/workspace/new", "bye", "51"); code != 0 || out != "./dir/f.txt:1:bye\n" {
		t.Errorf("grep: exit %d, %q, %s", code, out, stderr)
	}
	// busybox's grep -r would follow a symlink to a file outside.
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("bye from outside\n"), 0o644)
	os.Symlink(outside, filepath.Join(ws, "new", "link"))
	if code, out, stderr := run(grepScript(), "", "/workspace/new", "bye", "51"); code != 0 || out != "./dir/f.txt:1:bye\n" {
		t.Errorf("grep with a symlink out: exit %d, %q, %s", code, out, stderr)
	}
	if code, _, _ := run(readScript(), "", "/workspace/missing"); code != exitNotFound {
		t.Errorf("read of a missing file: exit %d, want %d", code, exitNotFound)
	}
	if left := writeTemps(t, ws); len(left) > 0 {
		t.Errorf("temp files left: %q", left)
	}
}

// Names that find would parse as operators are listed like any other.
func TestListOperatorNames(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	for _, n := range []string{"!", "(", ")", "-o", "-name"} {
		os.MkdirAll(filepath.Join(e.ws, n), 0o755)
		os.WriteFile(filepath.Join(e.ws, n, "f.txt"), nil, 0o644)
		res, err := b.ListFiles(t.Context(), n, "")
		if err != nil {
			t.Errorf("ListFiles(%q): %v", n, err)
			continue
		}
		want := n + "/f.txt"
		if strings.HasPrefix(n, "-") {
			want = "./" + want
		}
		if diff := cmp.Diff([]string{want}, res.Files); diff != "" {
			t.Errorf("ListFiles(%q) (-want +got):\n%s", n, diff)
		}
	}
}

// A matching line longer than the output cap is cut there and marked
// truncated, never spliced from its head and tail.
func TestGrepLongLine(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e, func(c *Config) { c.OutputCap = 1000 })
	line := "needle" + strings.Repeat("a", 5000) + "END\n"
	os.WriteFile(filepath.Join(e.ws, "long.txt"), []byte(line), 0o644)
	got, err := b.Grep(t.Context(), "needle", "long.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || got.Count != 1 || strings.Contains(got.Matches, "END") || !strings.HasPrefix(got.Matches, "1:needle") {
		t.Errorf("got truncated %v, count %d, %d bytes ending %q; want the line's head only, truncated",
			got.Truncated, got.Count, len(got.Matches), got.Matches[max(0, len(got.Matches)-10):])
	}
}

// A binary file that matches is one match line, not nothing.
func TestGrepBinaryFile(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	os.MkdirAll(filepath.Join(e.ws, "d"), 0o755)
	os.WriteFile(filepath.Join(e.ws, "d", "data.bin"), []byte("abc\x00needle\n"), 0o644)
	for _, tt := range []struct{ path, want string }{
		{".", "Binary file ./d/data.bin matches\n"},
		{"d", "Binary file d/data.bin matches\n"},
		{"d/data.bin", "Binary file d/data.bin matches\n"},
	} {
		got, err := b.Grep(t.Context(), "needle", tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if want := (GrepResult{Success: true, Matches: tt.want, Count: 1}); got != want {
			t.Errorf("Grep in %q = %+v, want %+v", tt.path, got, want)
		}
	}
}

// "dir/" names a directory: a write to it makes no file.
func TestWriteTrailingSlash(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	for _, p := range []string{"newdir/", "a/b/"} {
		if _, err := b.Write(t.Context(), p, strings.NewReader("x")); !errors.Is(err, ErrIsDir) {
			t.Errorf("Write(%q) = %v, want ErrIsDir", p, err)
		}
	}
	// The temp files' names are the tool's own.
	for _, p := range []string{".dockerbridge-write.1.2.3", "sub/.dockerbridge-write.4.5.6"} {
		if _, err := b.Write(t.Context(), p, strings.NewReader("x")); !errors.Is(err, ErrReserved) {
			t.Errorf("Write(%q) = %v, want ErrReserved", p, err)
		}
	}
	if entries, _ := os.ReadDir(e.ws); len(entries) != 0 {
		t.Errorf("the workspace holds %d entries, want none", len(entries))
	}
}

// close returns while the pump waits on input that is idle: a write whose
// script has gone must not wait for its caller's next byte.
func TestFramerCloseWithIdleInput(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	f, err := newFramer(t.Context(), pr)
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	pw.Write([]byte("abc")) // a little, then nothing more
	time.Sleep(100 * time.Millisecond)
	done := make(chan int64)
	go func() {
		n, _ := f.close(context.Background())
		done <- n
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("close still waits for the input after 20s")
	}
}

// An interrupted write sends no end frame, even when its input ends.
func TestFramerNoEndFrameAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f, err := newFramer(ctx, strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	got, err := io.ReadAll(f.r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "3\nabc" {
		t.Errorf("frames %q, want the data and no end frame", got)
	}
	f.close(t.Context())
}

// A read limit fails a larger file with kind too_large, printing none of it;
// JSON reads default to the output cap.
func TestReadLimit(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e, func(c *Config) { c.OutputCap = 50 })
	os.WriteFile(filepath.Join(e.ws, "f.txt"), []byte(strings.Repeat("x", 100)), 0o644)
	var out bytes.Buffer
	if err := b.ReadToLimit(t.Context(), "f.txt", &out, 99); !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
		t.Errorf("limit 99: %v, %d bytes out; want too_large and nothing", err, out.Len())
	}
	if err := b.ReadToLimit(t.Context(), "f.txt", &out, 100); err != nil || out.Len() != 100 {
		t.Errorf("limit 100: %v, %d bytes out; want all 100", err, out.Len())
	}
	if _, err := b.Read(t.Context(), "f.txt"); ErrorKind(err) != KindTooLarge || !strings.Contains(err.Error(), "limit of 50 bytes") {
		t.Errorf("JSON read over the cap: %v", err)
	}
	if res, err := b.ReadLimit(t.Context(), "f.txt", 100); err != nil || len(res.Content) != 100 {
		t.Errorf("JSON read with a limit of 100: %v", err)
	}
}

// swapLoop swaps the directory a and the symlink b until stop closes, with
// three renames: each instant the name a is the directory, the symlink or
// nothing. (renameat2's atomic exchange, which testdata/real/files_race
// uses in a container, is not in package syscall.)
func swapLoop(t *testing.T, a, b string, stop <-chan struct{}) <-chan int {
	t.Helper()
	swaps := make(chan int, 1)
	tmp := a + ".swap"
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				swaps <- n
				return
			default:
			}
			if os.Rename(a, tmp) == nil && os.Rename(b, a) == nil && os.Rename(tmp, b) == nil {
				n++
			}
		}
	}()
	return swaps
}

// A script resolves its path once: while a directory and a symlink out of
// the workspace swap places as fast as they can, no read returns the
// outside file and no write lands outside.
func TestScriptsRaceSwappedSymlink(t *testing.T) {
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	out, _ := filepath.EvalSymlinks(t.TempDir())
	for _, d := range []string{"race/d", "race/w"} {
		os.MkdirAll(filepath.Join(ws, d), 0o755)
	}
	os.WriteFile(filepath.Join(ws, "race/d/passwd"), []byte("inside\n"), 0o644)
	os.WriteFile(filepath.Join(out, "passwd"), []byte("SECRET\n"), 0o644)
	os.Symlink(out, filepath.Join(ws, "race/l"))
	os.Symlink(out, filepath.Join(ws, "race/wl"))

	stop := make(chan struct{})
	swaps := swapLoop(t, filepath.Join(ws, "race/d"), filepath.Join(ws, "race/l"), stop)
	escapes, inside := 0, 0
	for range 100 {
		_, stdout, _ := runScript(t, ws, readScript(), nil, "0", "/workspace/race/d/passwd")
		switch stdout {
		case "SECRET\n":
			escapes++
		case "inside\n":
			inside++
		}
	}
	close(stop)
	if n := <-swaps; n == 0 {
		t.Fatal("the swapper never swapped")
	}
	if escapes > 0 || inside == 0 {
		t.Errorf("reads: %d of 100 returned the outside file, %d the inside one; want none and some", escapes, inside)
	}

	stop = make(chan struct{})
	swaps = swapLoop(t, filepath.Join(ws, "race/w"), filepath.Join(ws, "race/wl"), stop)
	for range 100 {
		runScript(t, ws, writeScript(), strings.NewReader("2\nw\n0\n"), "0", "/workspace/race/w/out")
	}
	close(stop)
	<-swaps
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("writes landed outside the workspace: %q", names)
	}
}
