package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"dockerbridge/dockercli"
)

// File operations run constant bash scripts. The caller's path and pattern
// reach them only as positional arguments ("$2", "$3"), never inside the
// script text, so no quote, ';' or '$(...)' in them is ever parsed.
//
// Each script starts by resolving the path inside the container (symlinks
// included) and, unless outside paths are allowed ($1 = 1), refusing one
// that resolves outside /workspace. Script failures use exit codes that
// bash and coreutils do not: see the exit* constants.
const resolvePrelude = `set -u
r=$(realpath -m -- "$2") || exit 94
if [ "$1" != 1 ]; then
  case $r in /workspace|/workspace/*) ;; *) exit 92 ;; esac
fi
`

const (
	exitNotFound = 90
	exitNotFile  = 91
	exitOutside  = 92
	exitShort    = 93
	exitSetup    = 94
)

// writeScript streams framed input into a temp file beside the target and
// renames it over the target only once the end frame has arrived, so a
// writer killed part-way leaves the old file whole and no temp file behind.
// Frames are "<n>\n" and n bytes; "0\n" ends. It prints one byte when it is
// ready, and the writer sends nothing before that: a retried exec then has
// consumed no input. Each frame costs one dd, which copies it through a
// fixed 128 KiB buffer whatever n is, so that a frame may be as large as
// the input. The shell makes the temp file itself, with noclobber so that
// it must be new: it then has a new file's mode (0666 less the umask), and
// a new file costs only three processes (realpath, dd, mv), since each
// process start stalls the write on a busy host.
const writeScript = resolvePrelude + `[ "$r" = /workspace ] && exit 91
[ -d "$r" ] && exit 91
d=${r%/*}
[ -d "${d:-/}" ] || mkdir -p -- "${d:-/}" || exit 94
set -C
while t=${d:-}/.dockerbridge-write.$$.$RANDOM$RANDOM; ! { : >"$t"; } 2>/dev/null; do
  [ -e "$t" ] || { : >"$t"; exit 94; }
done
set +C
trap 'rm -f -- "$t"' EXIT
printf R
ok=0
while IFS= read -r n; do
  case $n in ''|*[!0-9]*) break ;; esac
  if [ "$n" -eq 0 ]; then ok=1; break; fi
  dd bs=128K count="$n" iflag=count_bytes,fullblock status=none >>"$t" || exit 94
done
[ "$ok" = 1 ] || exit 93
if [ -e "$r" ]; then
  chmod --reference="$r" -- "$t" 2>/dev/null
fi
mv -f -- "$t" "$r" || exit 94
trap - EXIT
`

const readScript = resolvePrelude + `[ -e "$r" ] || exit 90
[ -f "$r" ] || exit 91
exec cat -- "$r"
`

// $3 is the name pattern, $4 the most paths to print.
const listScript = resolvePrelude + `[ -e "$r" ] || exit 90
find "$2" -name "$3" -type f -print0 2>/dev/null | head -z -n "$4"
exit 0
`

// $3 is the pattern, $4 the most lines to print. grep's 1 (no match) is a
// success with no matches; 2 with no output is an error.
const grepScript = resolvePrelude + `[ -e "$r" ] || exit 90
set -o pipefail
grep -rn -e "$3" -- "$2" | head -n "$4"
s=$?
[ "$s" = 1 ] && exit 0
[ "$s" = 141 ] && exit 0
exit "$s"
`

// Bounds of the original's list_files and grep.
const (
	MaxFiles   = 100
	MaxMatches = 50
	// frameSize is the largest frame a write sends; it bounds memory on
	// both sides.
	frameSize = 4 << 20
)

// ErrOutside reports a path outside /workspace without AllowOutside.
var ErrOutside = errors.New("path is outside " + Workspace + " (use --allow-outside)")

// ErrNotFound reports a missing file.
var ErrNotFound = errors.New("no such file or directory")

// ErrNotFile reports a path that is not a regular file.
var ErrNotFile = errors.New("not a regular file")

// ErrNotUTF8 reports a file that JSON cannot carry as text.
var ErrNotUTF8 = errors.New("file is not valid UTF-8 text (read it without --json for the raw bytes)")

// ContainerPath turns a caller's path into one for the container: relative
// paths are under /workspace, and without allowOutside the lexical result
// must stay there. The in-container check then covers symlinks. The returned
// path is safe as a command's first argument: it never starts with '-'.
func ContainerPath(p string, allowOutside bool) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", errors.New("path contains a NUL byte")
	}
	abs := p
	if !path.IsAbs(p) {
		abs = path.Join(Workspace, p)
	}
	abs = path.Clean(abs)
	if !allowOutside && abs != Workspace && !strings.HasPrefix(abs, Workspace+"/") {
		return "", fmt.Errorf("%s: %w", p, ErrOutside)
	}
	return abs, nil
}

// displayPath keeps a relative path as the caller gave it, so find and grep
// print names the way the original did ("./a.txt"); only a leading '-'
// gets a "./" so that they do not take it for an option.
func displayPath(p, abs string) string {
	if path.IsAbs(p) {
		return abs
	}
	if strings.HasPrefix(p, "-") {
		return "./" + p
	}
	return p
}

// script runs a file script with the path check flag and args.
func (b *Bridge) script(ctx context.Context, script string, c dockercli.Cmd, interactive bool, args ...string) (int, error) {
	allow := "0"
	if b.cfg.AllowOutside {
		allow = "1"
	}
	cmd := append([]string{"bash", "-c", script, "bash", allow}, args...)
	return b.inContainer(ctx, dockercli.ExecSpec{Interactive: interactive, Command: cmd}, c)
}

// scriptError maps a script's exit code to an error about p.
func scriptError(op, p string, code int, stderr string) error {
	var err error
	switch code {
	case 0:
		return nil
	case exitNotFound:
		err = ErrNotFound
	case exitNotFile:
		err = ErrNotFile
	case exitOutside:
		err = ErrOutside
	case exitShort:
		err = errors.New("input ended before the end frame; the target is unchanged")
	case exitSetup:
		err = fmt.Errorf("cannot prepare the target: %s", orUnknown(errorLine(stderr)))
	default:
		err = fmt.Errorf("%s (exit status %d)", orUnknown(errorLine(stderr)), code)
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

func orUnknown(s string) string {
	if s == "" {
		return "failed"
	}
	return s
}

// WriteResult is the original's write_file dict.
type WriteResult struct {
	Success      bool   `json:"success"`
	Message      string `json:"message"`
	BytesWritten int64  `json:"bytes_written"`
}

// Write streams r into the file p, atomically and as the project user.
func (b *Bridge) Write(ctx context.Context, p string, r io.Reader) (WriteResult, error) {
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return WriteResult{}, fmt.Errorf("write: %w", err)
	}
	feed, err := newFramer(r)
	if err != nil {
		return WriteResult{}, fmt.Errorf("write %s: %w", p, err)
	}
	ready := &readyWriter{ready: feed.start}
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, writeScript, dockercli.Cmd{Stdin: feed.r, Stdout: ready, Stderr: stderr}, true, abs)
	feed.close()
	if err != nil {
		return WriteResult{}, fmt.Errorf("write %s: %w", p, err)
	}
	if feed.err != nil {
		return WriteResult{}, fmt.Errorf("write %s: reading input: %w", p, feed.err)
	}
	if err := scriptError("write", p, code, stderr.String()); err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Success: true, Message: "Successfully wrote to " + p, BytesWritten: feed.n}, nil
}

const stderrKeep = 64 << 10

// framer turns a reader into the write script's frames on an OS pipe. It
// reads nothing until start is called, so an exec that fails before the
// script runs can be retried with the input whole. The pipe is a real file,
// so docker gets the descriptor itself and no copying goroutine sits
// blocked on input that is not yet allowed to flow.
type framer struct {
	src     io.Reader
	r, w    *os.File
	once    sync.Once
	started chan struct{}
	done    chan struct{}
	n       int64
	err     error
}

func newFramer(src io.Reader) (*framer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A larger pipe wakes docker, which reads the other end, 16 times less
	// often. The default limit for this is 1 MiB; above it nothing changes.
	if rc, err := w.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, setPipeSize, 1<<20)
		})
	}
	f := &framer{src: src, r: r, w: w, started: make(chan struct{}), done: make(chan struct{})}
	go f.pump()
	return f, nil
}

func (f *framer) start() { f.once.Do(func() { close(f.started) }) }

// close ends the pump once the script is gone and waits for it.
func (f *framer) close() {
	f.r.Close()
	f.once.Do(func() { close(f.done) }) // never started: release the pump
	<-f.done
}

func (f *framer) pump() {
	select {
	case <-f.started:
	case <-f.done:
		f.w.Close()
		return
	}
	defer close(f.done)
	defer f.w.Close()
	if !f.sendFile() {
		return
	}
	buf := make([]byte, frameSize)
	for {
		n, err := io.ReadFull(f.src, buf)
		if n > 0 {
			if _, werr := fmt.Fprintf(f.w, "%d\n", n); werr != nil {
				return
			}
			if _, werr := f.w.Write(buf[:n]); werr != nil {
				return // the script is gone; its exit code tells why
			}
			f.n += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			f.err = err // no end frame: the script keeps the old file
			return
		}
	}
	_, _ = io.WriteString(f.w, "0\n")
}

// sendFile sends the rest of a regular file as one frame, copied without a
// buffer of its own: one dd in the container for the whole file, where
// frameSize frames would cost one each. It reports whether the pump should
// go on with frames (the source is no file, or has grown since).
func (f *framer) sendFile() bool {
	file, ok := f.src.(*os.File)
	if !ok {
		return true
	}
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return true
	}
	at, err := file.Seek(0, io.SeekCurrent)
	if err != nil || fi.Size() <= at {
		return true
	}
	n := fi.Size() - at
	if _, err := fmt.Fprintf(f.w, "%d\n", n); err != nil {
		return false
	}
	copied, err := splice(f.w, file, n)
	if copied == 0 && (errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)) {
		copied, err = io.CopyN(f.w, file, n)
	}
	f.n += copied
	if err == io.EOF {
		err = errors.New("the file shrank while it was being sent")
	}
	if err != nil {
		// A short frame and no end frame: the script keeps the old file. A
		// closed pipe means the script has gone; its exit code tells why.
		if !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EPIPE) {
			f.err = err
		}
		return false
	}
	return true
}

// splice moves n bytes of file into the pipe w within the kernel, so that
// none of them is copied through this process.
func splice(w, file *os.File, n int64) (int64, error) {
	rc, err := w.SyscallConn()
	if err != nil {
		return 0, err
	}
	src := int(file.Fd())
	var copied int64
	for copied < n {
		var m int64
		var serr error
		err := rc.Write(func(fd uintptr) bool {
			m, serr = syscall.Splice(src, nil, int(fd), nil, int(min(n-copied, 1<<20)), spliceMove|spliceNonblock)
			return serr != syscall.EAGAIN
		})
		if err == nil && serr == syscall.EINTR {
			continue
		}
		if err == nil {
			err = serr
		}
		if err != nil {
			return copied, err
		}
		if m == 0 {
			return copied, io.EOF
		}
		copied += m
	}
	return copied, nil
}

const (
	spliceMove     = 0x1  // SPLICE_F_MOVE
	spliceNonblock = 0x2  // SPLICE_F_NONBLOCK: only the pipe side waits, in the poller
	setPipeSize    = 1031 // F_SETPIPE_SZ
)

// readyWriter calls ready on the first byte of the script's stdout.
type readyWriter struct {
	ready func()
	once  sync.Once
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.once.Do(w.ready)
	}
	return len(p), nil
}

// ReadResult is the original's read_file dict.
type ReadResult struct {
	Success bool   `json:"success"`
	Content string `json:"content"`
}

// ReadTo streams the file p to w.
func (b *Bridge) ReadTo(ctx context.Context, p string, w io.Writer) error {
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, readScript, dockercli.Cmd{Stdout: w, Stderr: stderr}, false, abs)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return scriptError("read", p, code, stderr.String())
}

// Read returns the file p as text. Content over the output cap, or that is
// not UTF-8, is an error: JSON could not carry it faithfully.
func (b *Bridge) Read(ctx context.Context, p string) (ReadResult, error) {
	buf := dockercli.NewCapBuffer(b.cfg.OutputCap)
	if err := b.ReadTo(ctx, p, buf); err != nil {
		return ReadResult{}, err
	}
	if buf.Truncated() {
		return ReadResult{}, fmt.Errorf("read %s: file is larger than %d bytes; read it without --json", p, b.cfg.OutputCap)
	}
	content := buf.Bytes("")
	if !utf8.Valid(content) {
		return ReadResult{}, fmt.Errorf("read %s: %w", p, ErrNotUTF8)
	}
	return ReadResult{Success: true, Content: string(content)}, nil
}

// ListResult is the original's list_files dict, plus truncated.
type ListResult struct {
	Success   bool     `json:"success"`
	Files     []string `json:"files"`
	Truncated bool     `json:"truncated"`
}

// List returns up to MaxFiles regular files under p whose name matches the
// glob pattern.
func (b *Bridge) List(ctx context.Context, p, pattern string) (ListResult, error) {
	if p == "" {
		p = "."
	}
	if pattern == "" {
		pattern = "*"
	}
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return ListResult{}, fmt.Errorf("ls: %w", err)
	}
	out := dockercli.NewCapBuffer(b.cfg.OutputCap)
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, listScript, dockercli.Cmd{Stdout: out, Stderr: stderr}, false, displayPath(p, abs), pattern, strconv.Itoa(MaxFiles+1))
	if err != nil {
		return ListResult{}, fmt.Errorf("ls %s: %w", p, err)
	}
	if err := scriptError("ls", p, code, stderr.String()); err != nil {
		return ListResult{}, err
	}
	files := []string{}
	for _, f := range bytes.Split(out.Bytes(""), []byte{0}) {
		if len(f) > 0 && !isWriteTemp(f) {
			files = append(files, string(f))
		}
	}
	res := ListResult{Success: true, Files: files}
	if len(files) > MaxFiles {
		res.Files, res.Truncated = files[:MaxFiles], true
	}
	return res, nil
}

// isWriteTemp hides the temp file of a write in flight.
func isWriteTemp(p []byte) bool {
	return bytes.HasPrefix(p[bytes.LastIndexByte(p, '/')+1:], []byte(".dockerbridge-write."))
}

// GrepResult is the original's grep dict. Matches is grep -rn's output.
type GrepResult struct {
	Success   bool   `json:"success"`
	Matches   string `json:"matches"`
	Truncated bool   `json:"truncated"`
	Count     int    `json:"count"`
}

// Grep searches p recursively for the basic regular expression pattern and
// returns up to MaxMatches lines. No match is a success with no matches.
func (b *Bridge) Grep(ctx context.Context, pattern, p string) (GrepResult, error) {
	if p == "" {
		p = "."
	}
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return GrepResult{}, fmt.Errorf("grep: %w", err)
	}
	out := dockercli.NewCapBuffer(b.cfg.OutputCap)
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, grepScript, dockercli.Cmd{Stdout: out, Stderr: stderr}, false, displayPath(p, abs), pattern, strconv.Itoa(MaxMatches+1))
	if err != nil {
		return GrepResult{}, fmt.Errorf("grep %s: %w", p, err)
	}
	text := out.String()
	if code != 0 && text == "" {
		return GrepResult{}, scriptError("grep", p, code, stderr.String())
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	res := GrepResult{Success: true}
	if len(lines) > MaxMatches {
		lines, res.Truncated = lines[:MaxMatches], true
	}
	res.Matches = strings.Join(lines, "")
	res.Count = len(lines)
	return res, nil
}
