package bridge

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestContainerPath(t *testing.T) {
	tests := []struct {
		in      string
		outside bool
		want    string
		wantErr error // nil with an empty want: any error
	}{
		{in: "a.txt", want: "/workspace/a.txt"},
		{in: ".", want: "/workspace"},
		{in: "./sub/../b", want: "/workspace/b"},
		{in: "sub//c/", want: "/workspace/sub/c"},
		{in: "/workspace", want: "/workspace"},
		{in: "/workspace/", want: "/workspace"},
		{in: "/workspace/x/y", want: "/workspace/x/y"},
		{in: "-rf", want: "/workspace/-rf"},
		{in: "it's a \"name\"; $(touch x)", want: "/workspace/it's a \"name\"; $(touch x)"},
		{in: "..", wantErr: ErrOutside},
		{in: "../etc/passwd", wantErr: ErrOutside},
		{in: "a/../../b", wantErr: ErrOutside},
		{in: "/workspace/../etc", wantErr: ErrOutside},
		{in: "/workspacex", wantErr: ErrOutside},
		{in: "/workspacex/a", wantErr: ErrOutside},
		{in: "/etc/passwd", wantErr: ErrOutside},
		{in: "/", wantErr: ErrOutside},
		{in: ""},
		{in: "a\x00b"},
		{in: "/workspace/../etc", outside: true, want: "/etc"},
		{in: "../x", outside: true, want: "/x"},
		{in: "/workspacex", outside: true, want: "/workspacex"},
		{in: "a\x00b", outside: true},
		{in: "", outside: true},
	}
	for _, tt := range tests {
		got, err := ContainerPath(tt.in, tt.outside)
		switch {
		case tt.want != "":
			if err != nil || got != tt.want {
				t.Errorf("ContainerPath(%q, %v) = %q, %v; want %q", tt.in, tt.outside, got, err, tt.want)
			}
		case tt.wantErr != nil:
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ContainerPath(%q, %v) = %q, %v; want %v", tt.in, tt.outside, got, err, tt.wantErr)
			}
		default:
			if err == nil {
				t.Errorf("ContainerPath(%q, %v) = %q; want an error", tt.in, tt.outside, got)
			}
		}
		if err == nil && strings.HasPrefix(got, "-") {
			t.Errorf("ContainerPath(%q) = %q starts with '-'", tt.in, got)
		}
	}
}

func TestDisplayPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{".", "."},
		{"src", "src"},
		{"./src", "./src"},
		{"-rf", "./-rf"},
		{"--help", "./--help"},
		{"/workspace/../workspace/x", "/workspace/x"},
		{"/workspace/-x", "/workspace/-x"},
	}
	for _, tt := range tests {
		abs, err := ContainerPath(tt.in, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := displayPath(tt.in, abs); got != tt.want {
			t.Errorf("displayPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// runScript runs a file script for real with bash, /workspace being ws in
// the script and its arguments.
func runScript(t *testing.T, ws, script string, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	argv := []string{"-c", strings.ReplaceAll(script, Workspace, ws), "bash"}
	for _, a := range args {
		argv = append(argv, strings.ReplaceAll(a, Workspace, ws))
	}
	cmd := exec.Command("bash", argv...)
	cmd.Dir = ws
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// writeTemps lists leftover temp files of writes under dir.
func writeTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".dockerbridge-write.") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestWriteSizes(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, frameSize - 1, frameSize, frameSize + 1, 3*frameSize + 7} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.UintN(256)) // NULs and newlines included
		}
		name := filepath.Join("deep", "dir", "f.bin")
		res, err := b.Write(t.Context(), name, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		want := WriteResult{Success: true, Message: "Successfully wrote to " + name, BytesWritten: int64(size)}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("size %d: result (-want +got):\n%s", size, diff)
		}
		got, err := os.ReadFile(filepath.Join(e.ws, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("size %d: the file has %d bytes and differs from what was written", size, len(got))
		}
	}
	if left := writeTemps(t, e.ws); len(left) > 0 {
		t.Errorf("temp files left: %q", left)
	}
}

// An overwrite keeps the target's mode; a new file gets 0666 less umask.
func TestWriteMode(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	target := filepath.Join(e.ws, "secret")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o600)
	if _, err := b.Write(t.Context(), "secret", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := b.Write(t.Context(), "fresh", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", "umask").Output()
	if err != nil {
		t.Fatal(err)
	}
	var umask os.FileMode
	for _, c := range strings.TrimSpace(string(out)) {
		umask = umask<<3 | os.FileMode(c-'0')
	}
	if fi, _ := os.Stat(filepath.Join(e.ws, "fresh")); fi.Mode().Perm() != 0o666&^umask {
		t.Errorf("new file mode %v, want %v", fi.Mode().Perm(), 0o666&^umask)
	}
}

// failingReader gives n bytes, then fails.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range k {
		p[i] = 'z'
	}
	f.n -= k
	return k, nil
}

func TestWriteInputFails(t *testing.T) {
	for _, n := range []int{0, 10, frameSize + 10} {
		e := newFakeEngine(t)
		e.add("luzia-x", true, time.Now())
		b := newTestBridge(t, e)
		target := filepath.Join(e.ws, "keep.txt")
		if err := os.WriteFile(target, []byte("old content"), 0o644); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("disk on fire")
		_, err := b.Write(t.Context(), "keep.txt", &failingReader{n: n, err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("after %d bytes: err = %v, want the reader's error", n, err)
		}
		if got, _ := os.ReadFile(target); string(got) != "old content" {
			t.Errorf("after %d bytes: target = %q, want it unchanged", n, got)
		}
		if left := writeTemps(t, e.ws); len(left) > 0 {
			t.Errorf("after %d bytes: temp files left: %q", n, left)
		}
	}
}

// The script itself, given input that stops short of the end frame, keeps
// the target and leaves no temp file.
func TestWriteScriptFraming(t *testing.T) {
	tests := []struct {
		name  string
		input string
		code  int
		want  string
	}{
		{"whole", "5\nhello6\n world0\n", 0, "hello world"},
		{"empty file", "0\n", 0, ""},
		{"no end frame", "5\nhello", exitShort, "old"},
		{"short frame", "10\nhello", exitShort, "old"},
		{"nothing", "", exitShort, "old"},
		{"garbage length", "5\nhelloxyz\n", exitShort, "old"},
		{"negative length", "-1\n", exitShort, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, _ := filepath.EvalSymlinks(t.TempDir())
			target := filepath.Join(ws, "t.txt")
			os.WriteFile(target, []byte("old"), 0o644)
			code, stdout, stderr := runScript(t, ws, writeScript(), strings.NewReader(tt.input), "0", "/workspace/t.txt")
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if stdout != "R" {
				t.Errorf("stdout %q, want the ready byte R", stdout)
			}
			if got, _ := os.ReadFile(target); string(got) != tt.want {
				t.Errorf("target %q, want %q", got, tt.want)
			}
			if left := writeTemps(t, ws); len(left) > 0 {
				t.Errorf("temp files left: %q", left)
			}
		})
	}
}

// countingReader counts reads.
type countingReader struct {
	r     io.Reader
	reads atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.r.Read(p)
}

// Nothing is read from the input before the script is ready, so the exec
// retried after "No such container" still gets the input whole.
func TestWriteColdStartKeepsInput(t *testing.T) {
	e := newFakeEngine(t)
	data := bytes.Repeat([]byte("0123456789"), frameSize/10+3)
	in := &countingReader{r: bytes.NewReader(data)}
	var readsAtExec []int64
	e.beforeExec = func(x execCall) {
		if len(x.command) > 2 && x.command[2] == writeScript() {
			readsAtExec = append(readsAtExec, in.reads.Load())
		}
	}
	b := newTestBridge(t, e)
	res, err := b.Write(t.Context(), "big.txt", in)
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesWritten != int64(len(data)) {
		t.Errorf("bytes_written %d, want %d", res.BytesWritten, len(data))
	}
	if diff := cmp.Diff([]int64{0, 0}, readsAtExec); diff != "" {
		t.Errorf("input reads when each write exec began (-want +got):\n%s", diff)
	}
	want := []string{"exec bash", "container inspect", "run", "exec mkdir", "exec bash"}
	if diff := cmp.Diff(want, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(e.ws, "big.txt")); !bytes.Equal(got, data) {
		t.Errorf("file has %d bytes, want the %d written", len(got), len(data))
	}
}

func TestWriteRefusals(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	os.Mkdir(filepath.Join(e.ws, "adir"), 0o755)
	for _, p := range []string{".", "/workspace", "adir"} {
		if _, err := b.Write(t.Context(), p, strings.NewReader("x")); !errors.Is(err, ErrIsDir) {
			t.Errorf("Write(%q) = %v, want ErrIsDir", p, err)
		}
	}
	for _, p := range []string{"../x", "/etc/x", "/workspacex"} {
		if _, err := b.Write(t.Context(), p, strings.NewReader("x")); !errors.Is(err, ErrOutside) {
			t.Errorf("Write(%q) = %v, want ErrOutside", p, err)
		}
	}
	if calls := e.summary(); len(calls) != 3 {
		t.Errorf("docker calls %q: want one per in-workspace path, none for the lexically outside ones", calls)
	}
}

// hostile names: quotes, spaces, a newline, a leading '-', and text that a
// shell would run.
var hostileNames = []string{
	"plain.txt",
	"a b.txt",
	"it's.txt",
	`dq"uote.txt`,
	"new\nline.txt",
	"-rf.txt",
	"--help",
	"$(touch pwned1).txt",
	"`touch pwned2`.txt",
	"semi;touch pwned3.txt",
	"star*.txt",
	"sub dir/inner 'x'.txt",
}

func hostileWorkspace(t *testing.T) (*fakeEngine, *Bridge) {
	t.Helper()
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	for _, n := range hostileNames {
		p := filepath.Join(e.ws, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("content of "+n+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, dir := range []string{e.ws, "."} {
			if m, _ := filepath.Glob(filepath.Join(dir, "pwned*")); len(m) > 0 {
				t.Errorf("a name was run as a command: %q exist", m)
			}
		}
	})
	return e, b
}

func TestReadHostileNames(t *testing.T) {
	_, b := hostileWorkspace(t)
	for _, n := range hostileNames {
		res, err := b.Read(t.Context(), n)
		if err != nil {
			t.Errorf("Read(%q): %v", n, err)
			continue
		}
		if want := (ReadResult{Success: true, Content: "content of " + n + "\n"}); res != want {
			t.Errorf("Read(%q) = %+v, want %+v", n, res, want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	e, b := hostileWorkspace(t)
	os.WriteFile(filepath.Join(e.ws, "bin"), []byte{0xff, 0xfe, 0}, 0o644)
	tests := []struct {
		path string
		want error
	}{
		{"missing.txt", ErrNotFound},
		{"sub dir", ErrIsDir},
		{".", ErrIsDir},
		{"bin", ErrNotUTF8},
		{"../etc/passwd", ErrOutside},
	}
	for _, tt := range tests {
		if _, err := b.Read(t.Context(), tt.path); !errors.Is(err, tt.want) {
			t.Errorf("Read(%q) = %v, want %v", tt.path, err, tt.want)
		}
	}
}

func TestListHostileNames(t *testing.T) {
	e, b := hostileWorkspace(t)
	os.WriteFile(filepath.Join(e.ws, ".dockerbridge-write.123.456.789"), nil, 0o600) // a write in flight
	os.WriteFile(filepath.Join(e.ws, ".dockerbridge-write.abc123"), nil, 0o600)      // the user's
	res, err := b.ListFiles(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./.dockerbridge-write.abc123"}
	for _, n := range hostileNames {
		want = append(want, "./"+n)
	}
	slices.Sort(want)
	slices.Sort(res.Files)
	if diff := cmp.Diff(ListResult{Success: true, Files: want}, res); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	tests := []struct {
		path, pattern string
		want          []string
	}{
		{".", "*.txt", without(without(want, "./--help"), "./.dockerbridge-write.abc123")},
		{".", "-rf*", []string{"./-rf.txt"}},
		{".", "$(touch pwned4)*", []string{}},
		{".", "it's*", []string{"./it's.txt"}},
		{"sub dir", "*", []string{"sub dir/inner 'x'.txt"}},
		{"/workspace/sub dir", "*", []string{"/workspace/sub dir/inner 'x'.txt"}},
		{"-rf.txt", "*", []string{"./-rf.txt"}},
	}
	for _, tt := range tests {
		res, err := b.ListFiles(t.Context(), tt.path, tt.pattern)
		if err != nil {
			t.Errorf("ListFiles(%q, %q): %v", tt.path, tt.pattern, err)
			continue
		}
		slices.Sort(res.Files)
		// The container's /workspace is the host's ws here.
		for i, f := range res.Files {
			res.Files[i] = strings.Replace(f, e.ws, Workspace, 1)
		}
		if diff := cmp.Diff(tt.want, res.Files); diff != "" {
			t.Errorf("ListFiles(%q, %q) (-want +got):\n%s", tt.path, tt.pattern, diff)
		}
	}
}

func without(a []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(s string) bool { return s == drop })
}

func TestListLimit(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	for i := range MaxFiles + 5 {
		os.WriteFile(filepath.Join(e.ws, strings.Repeat("f", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))), nil, 0o644)
	}
	res, err := b.ListFiles(t.Context(), ".", "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != MaxFiles || !res.Truncated {
		t.Errorf("%d files, truncated %v; want %d and true", len(res.Files), res.Truncated, MaxFiles)
	}
}

func TestGrepHostile(t *testing.T) {
	_, b := hostileWorkspace(t)
	tests := []struct {
		pattern, path string
		want          GrepResult
	}{
		{"content of it's", ".", GrepResult{Success: true, Matches: "./it's.txt:1:content of it's.txt\n", Count: 1}},
		// One file: grep -rn names no file, as the original's did not.
		{"content of -rf", "-rf.txt", GrepResult{Success: true, Matches: "1:content of -rf.txt\n", Count: 1}},
		{"-rf", "-rf.txt", GrepResult{Success: true, Matches: "1:content of -rf.txt\n", Count: 1}},
		{"$(touch pwned5)", ".", GrepResult{Success: true}},
		{"`touch pwned2`", ".", GrepResult{Success: true, Matches: "./`touch pwned2`.txt:1:content of `touch pwned2`.txt\n", Count: 1}},
		{"no such text anywhere", "sub dir", GrepResult{Success: true}},
		{"inner", "sub dir", GrepResult{Success: true, Matches: "sub dir/inner 'x'.txt:1:content of sub dir/inner 'x'.txt\n", Count: 1}},
	}
	for _, tt := range tests {
		got, err := b.Grep(t.Context(), tt.pattern, tt.path)
		if err != nil {
			t.Errorf("Grep(%q, %q): %v", tt.pattern, tt.path, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Grep(%q, %q) (-want +got):\n%s", tt.pattern, tt.path, diff)
		}
	}
	if _, err := b.Grep(t.Context(), "x", "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Grep in a missing path: %v, want ErrNotFound", err)
	}
	if _, err := b.Grep(t.Context(), "[", "."); err == nil {
		t.Error("Grep with an invalid pattern: no error")
	}
}

func TestGrepLimit(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	os.WriteFile(filepath.Join(e.ws, "many"), bytes.Repeat([]byte("hit\n"), MaxMatches*3), 0o644)
	got, err := b.Grep(t.Context(), "hit", "many")
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != MaxMatches || !got.Truncated || strings.Count(got.Matches, "\n") != MaxMatches {
		t.Errorf("count %d, truncated %v, %d lines; want %d, true", got.Count, got.Truncated, strings.Count(got.Matches, "\n"), MaxMatches)
	}
}

// A symlink inside the workspace that points outside it is refused by the
// in-container check (exit 92), for every operation, unless allowed.
func TestSymlinkConfinement(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	outside, _ := filepath.EvalSymlinks(t.TempDir())
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(e.ws, "link")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(e.ws, "filelink"))

	b := newTestBridge(t, e)
	checks := map[string]error{}
	_, checks["read link/secret"] = b.Read(t.Context(), "link/secret")
	_, checks["read filelink"] = b.Read(t.Context(), "filelink")
	_, checks["ls link"] = b.ListFiles(t.Context(), "link", "*")
	_, checks["grep link"] = b.Grep(t.Context(), "secret", "link")
	_, checks["write link/new"] = b.Write(t.Context(), "link/new", strings.NewReader("x"))
	for what, err := range checks {
		if !errors.Is(err, ErrOutside) {
			t.Errorf("%s: %v, want ErrOutside", what, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("write through the symlink created a file outside the workspace")
	}
	code, _, _ := runScript(t, e.ws, readScript(), nil, "0", "/workspace/link/secret")
	if code != exitOutside {
		t.Errorf("read script exit %d, want %d", code, exitOutside)
	}

	allowed := newTestBridge(t, e, func(c *Config) { c.AllowOutside = true })
	res, err := allowed.Read(t.Context(), "link/secret")
	if err != nil || res.Content != "secret\n" {
		t.Errorf("allowed read: %+v, %v", res, err)
	}
	if _, err := allowed.Write(t.Context(), "link/new", strings.NewReader("x")); err != nil {
		t.Errorf("allowed write: %v", err)
	}
}
