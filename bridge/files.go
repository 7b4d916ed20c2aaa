package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	_ "embed"

	"dockerbridge/dockercli"
)

// File operations run constant bash scripts, kept in scripts/*.bash: each
// is common.bash followed by its own file. The caller's path and pattern
// reach them only as positional arguments ("$2", "$3"), never inside the
// script text, so no quote, ';' or '$(...)' in them is ever parsed.
//
// A script enters the path's directory once and checks, from the directory
// it is really in, that it lies in /workspace (unless outside paths are
// allowed, $1 = 1); it then names the last component relative to it, or
// opens it and checks what it opened. No path is resolved twice, so a
// concurrent rename cannot swap a symlink in between.
var (
	//go:embed scripts/common.bash
	scriptCommon string
	//go:embed scripts/write.bash
	scriptWrite string
	//go:embed scripts/read.bash
	scriptRead string
	//go:embed scripts/ls.bash
	scriptList string
	//go:embed scripts/grep.bash
	scriptGrep string
)

// The file scripts, whole. They are joined when used rather than as the
// package starts, which every call of every command would pay.
func writeScript() string { return scriptCommon + scriptWrite }
func readScript() string  { return scriptCommon + scriptRead }
func listScript() string  { return scriptCommon + scriptList }
func grepScript() string  { return scriptCommon + scriptGrep }

// The file scripts' exit codes: ones that bash and the tools they run do
// not use. This is their one table; the scripts use the numbers.
const (
	exitNotFound = 90 // the path does not exist
	exitNotFile  = 91 // not a regular file (a FIFO, a device)
	exitOutside  = 92 // it resolves outside /workspace
	exitShort    = 93 // a write's input ended before its end frame
	exitSetup    = 94 // a step failed; stderr says why
	exitIsDir    = 95 // a directory where a file is needed
	exitDenied   = 96 // permission; stderr may hold "DIR\tUID\tOWNER"
	exitMode     = 97 // a write could not give the new file the old one's mode
	exitNotDir   = 98 // a component of the path is not a directory
)

// Bounds of the original's list_files and grep.
const (
	MaxFiles   = 100
	MaxMatches = 50
	// frameSize is the largest frame a write sends; it bounds memory on
	// both sides.
	frameSize = 4 << 20
)

// FileError is a file operation's failure with a machine-readable kind, one
// of the Kind* values.
type FileError struct {
	Kind string
	msg  string
}

func (e *FileError) Error() string { return e.msg }

// Is lets errors.Is match any error of the same kind; a missing file is
// also fs.ErrNotExist and a denied one fs.ErrPermission, as os reports them.
func (e *FileError) Is(target error) bool {
	switch t := target.(type) {
	case *FileError:
		return t.Kind == e.Kind
	}
	switch e.Kind {
	case KindNotFound:
		return target == fs.ErrNotExist
	case KindPermission:
		return target == fs.ErrPermission
	}
	return false
}

// Kinds of file errors, as --json reports them.
const (
	KindNotFound    = "not_found"
	KindPermission  = "permission"
	KindIsDirectory = "is_directory"
	KindOutside     = "outside"
	KindTooLarge    = "too_large"
	KindNotFile     = "not_regular"
	KindNotDir      = "not_directory"
)

// ErrorKind returns the kind of a file error in err's chain, or "".
func ErrorKind(err error) string {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return ""
}

var (
	// ErrOutside reports a path outside /workspace without AllowOutside.
	ErrOutside error = &FileError{KindOutside, "path is outside " + Workspace}
	// ErrNotFound reports a missing file.
	ErrNotFound error = &FileError{KindNotFound, "no such file or directory"}
	// ErrNotFile reports a path that is neither a regular file nor a
	// directory, where a file is needed.
	ErrNotFile error = &FileError{KindNotFile, "not a regular file"}
	// ErrIsDir reports a directory where a file is needed.
	ErrIsDir error = &FileError{KindIsDirectory, "is a directory"}
	// ErrNotDir reports a path through something that is not a directory.
	ErrNotDir error = &FileError{KindNotDir, "a component of the path is not a directory"}
	// ErrPermission reports what the project user may not do.
	ErrPermission error = &FileError{KindPermission, "permission denied"}
	// ErrTooLarge reports a file over a read limit.
	ErrTooLarge error = &FileError{KindTooLarge, "file is too large"}
)

// ErrReserved reports a name of the kind write uses for its temp files,
// which ls hides, commits leave out and a later write may remove.
var ErrReserved = errors.New("names of the form " + writeTempPrefix + "PID.START.N are the tool's temp files")

// ErrNotUTF8 reports a file that JSON cannot carry as text.
var ErrNotUTF8 = errors.New("file is not valid UTF-8 text")

// ErrOutputCap marks a read refused for the output cap, the limit when the
// caller gave none.
var ErrOutputCap = errors.New("over the output cap")

// capError is a too-large error whose limit was the output cap.
type capError struct{ error }

func (e capError) Unwrap() error { return e.error }

func (e capError) Is(target error) bool { return target == ErrOutputCap }

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
	case exitIsDir:
		err = ErrIsDir
	case exitNotDir:
		err = ErrNotDir
	case exitDenied:
		err = deniedError(stderr)
	case exitShort:
		err = errors.New("input ended before the end frame; the target is unchanged")
	case exitMode:
		err = errors.New("cannot give the new content the file's mode (chmod failed); the target is unchanged")
	case exitSetup:
		err = errors.New(orUnknown(dockercli.FirstLine(stderr)))
	default:
		err = fmt.Errorf("%s (exit status %d)", orUnknown(dockercli.FirstLine(stderr)), code)
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

// deniedError explains a directory the project user may not use, from the
// script's "DIR\tUID\tOWNER\tVERB" line, or is plain ErrPermission.
func deniedError(stderr string) error {
	f := strings.Split(strings.TrimRight(stderr, "\n"), "\t")
	if len(f) != 4 {
		return ErrPermission
	}
	dir, uid, owner, verb := f[0], f[1], f[2], f[3]
	if verb == "write" {
		verb = "write in"
	}
	return &FileError{KindPermission, fmt.Sprintf(
		"permission denied: uid %s may not %s directory %s, which is owned by uid:gid %s; "+
			"give uid %s access to it on the host (e.g. chown), or run the project as the owner's user",
		uid, verb, dir, owner, uid)}
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
	if strings.HasSuffix(p, "/") {
		// "newdir/" names a directory: never a file called newdir.
		return WriteResult{}, fmt.Errorf("write %s: %w", p, ErrIsDir)
	}
	if isWriteTemp([]byte(abs)) {
		return WriteResult{}, fmt.Errorf("write %s: %w", p, ErrReserved)
	}
	feed, err := newFramer(ctx, r)
	if err != nil {
		return WriteResult{}, fmt.Errorf("write %s: %w", p, err)
	}
	ready := &readyWriter{ready: feed.start}
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, writeScript(), dockercli.Cmd{Stdin: feed.r, Stdout: ready, Stderr: stderr}, true, abs)
	n, ferr := feed.close(ctx)
	if err != nil {
		return WriteResult{}, fmt.Errorf("write %s: %w", p, err)
	}
	if ferr != nil {
		return WriteResult{}, fmt.Errorf("write %s: reading input: %w", p, ferr)
	}
	if err := scriptError("write", p, code, stderr.String()); err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Success: true, Message: "Successfully wrote to " + p, BytesWritten: n}, nil
}

const stderrKeep = dockercli.StderrKeep

// framer turns a reader into the write script's frames on an OS pipe. It
// reads nothing until start is called, so an exec that fails before the
// script runs can be retried with the input whole. The pipe is a real file,
// so docker gets the descriptor itself and no copying goroutine sits
// blocked on input that is not yet allowed to flow.
type framer struct {
	ctx     context.Context
	src     io.Reader
	r, w    *os.File
	once    sync.Once
	started chan struct{}
	done    chan struct{}
	mu      sync.Mutex // guards what follows
	reading bool
	closing bool
	n       int64
	err     error
}

func newFramer(ctx context.Context, src io.Reader) (*framer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	growPipe(w)
	f := &framer{ctx: ctx, src: src, r: r, w: w, started: make(chan struct{}), done: make(chan struct{})}
	go f.pump()
	return f, nil
}

func (f *framer) start() { f.once.Do(func() { close(f.started) }) }

// close ends the pump once the script is gone and returns what it sent.
// It waits for the pump unless the pump is blocked reading the input (an
// idle pipe, say), or ctx has ended: such a read cannot be woken, and a
// signal or a container gone must end the command at once. The script has
// seen no end frame then, so the target stays as it was.
func (f *framer) close(ctx context.Context) (int64, error) {
	f.r.Close()
	f.once.Do(func() { close(f.done) }) // never started: release the pump
	f.mu.Lock()
	f.closing = true
	reading := f.reading
	f.mu.Unlock()
	if !reading {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.err
}

func (f *framer) add(n int64, err error) {
	f.mu.Lock()
	f.n += n
	if err != nil {
		f.err = err
	}
	f.mu.Unlock()
}

// read reads a frame's worth of input, unless close has begun.
func (f *framer) read(buf []byte) (int, bool, error) {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return 0, false, nil
	}
	f.reading = true
	f.mu.Unlock()
	n, err := io.ReadFull(f.src, buf)
	f.mu.Lock()
	f.reading = false
	f.mu.Unlock()
	return n, true, err
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
		n, ok, err := f.read(buf)
		if !ok {
			return
		}
		if n > 0 {
			if _, werr := fmt.Fprintf(f.w, "%d\n", n); werr != nil {
				return
			}
			if _, werr := f.w.Write(buf[:n]); werr != nil {
				return // the script is gone; its exit code tells why
			}
			f.add(int64(n), nil)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			f.add(0, err) // no end frame: the script keeps the old file
			return
		}
	}
	// Ctrl-C reaches the program that feeds the input too, so its end can
	// race the interrupt: an interrupted write must leave the target as it
	// was, so the end frame goes only while the caller still wants it.
	if f.ctx.Err() != nil {
		return
	}
	_, _ = io.WriteString(f.w, "0\n")
}

// sendFile sends the rest of a regular file as one frame, copied without a
// buffer of its own where the system allows: one dd in the container for
// the whole file, where frameSize frames would cost one each. It reports
// whether the pump should go on with frames (the source is no file, or has
// grown since).
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
	if copied == 0 && errors.Is(err, errNoSplice) {
		copied, err = io.CopyN(f.w, file, n)
	}
	if err == io.EOF {
		err = errors.New("the file shrank while it was being sent")
	}
	if err != nil && (errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EPIPE)) {
		// The script has gone; its exit code tells why.
		err = nil
		f.add(copied, nil)
		return false
	}
	f.add(copied, err)
	// A short frame and no end frame: the script keeps the old file.
	return err == nil
}

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
	code, err := b.script(ctx, readScript(), dockercli.Cmd{Stdout: w, Stderr: stderr}, false, abs)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return scriptError("read", p, code, stderr.String())
}

// ReadToLimit is ReadTo with a size limit: a file over max bytes fails
// with ErrTooLarge's kind, and nothing of it is written to w. The content is
// held in memory up to max. max <= 0 means no limit.
func (b *Bridge) ReadToLimit(ctx context.Context, p string, w io.Writer, max int64) error {
	if max <= 0 {
		return b.ReadTo(ctx, p, w)
	}
	buf := &headBuffer{max: int(min(max, math.MaxInt32))}
	if err := b.ReadTo(ctx, p, buf); err != nil {
		return err
	}
	if buf.over {
		return tooLarge(p, max)
	}
	_, err := w.Write(buf.buf)
	return err
}

func tooLarge(p string, max int64) error {
	return fmt.Errorf("read %s: %w", p, &FileError{KindTooLarge,
		fmt.Sprintf("file is larger than the limit of %d bytes", max)})
}

// Read returns the file p as text, up to the output cap.
func (b *Bridge) Read(ctx context.Context, p string) (ReadResult, error) {
	return b.ReadLimit(ctx, p, 0)
}

// ReadLimit returns the file p as text. Content over max bytes (the output
// cap if max <= 0), or that is not UTF-8, is an error: JSON could not carry
// it faithfully.
func (b *Bridge) ReadLimit(ctx context.Context, p string, max int64) (ReadResult, error) {
	capped := max <= 0
	if capped {
		max = int64(b.cfg.OutputCap)
	}
	buf := &headBuffer{max: int(min(max, math.MaxInt32))}
	if err := b.ReadTo(ctx, p, buf); err != nil {
		return ReadResult{}, err
	}
	if buf.over {
		if capped {
			return ReadResult{}, capError{tooLarge(p, max)}
		}
		return ReadResult{}, tooLarge(p, max)
	}
	if !utf8.Valid(buf.buf) {
		return ReadResult{}, fmt.Errorf("read %s: %w", p, ErrNotUTF8)
	}
	return ReadResult{Success: true, Content: string(buf.buf)}, nil
}

// ListResult is the original's list_files dict, plus truncated.
type ListResult struct {
	Success   bool     `json:"success"`
	Files     []string `json:"files"`
	Truncated bool     `json:"truncated"`
}

// ListFiles returns up to MaxFiles regular files under p whose name matches
// the glob pattern.
func (b *Bridge) ListFiles(ctx context.Context, p, pattern string) (ListResult, error) {
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
	code, err := b.script(ctx, listScript(), dockercli.Cmd{Stdout: out, Stderr: stderr}, false, abs, pattern, strconv.Itoa(MaxFiles+1))
	if err != nil {
		return ListResult{}, fmt.Errorf("ls %s: %w", p, err)
	}
	if err := scriptError("ls", p, code, stderr.String()); err != nil {
		return ListResult{}, err
	}
	entries := bytes.Split(out.Bytes(""), []byte{0})
	if out.Truncated() || len(entries) < 2 || len(entries[0]) != 1 {
		return ListResult{}, fmt.Errorf("ls %s: unexpected output from the container", p)
	}
	// Names come relative to the path ("./x"); they are given back the way
	// the caller spelled it, as find "$path" would print them.
	show := displayPath(p, abs)
	files := []string{}
	for _, f := range entries[1:] {
		if len(f) == 0 || isWriteTemp(f) {
			continue
		}
		switch {
		case entries[0][0] == 'F':
			files = append(files, show)
		case show == ".":
			files = append(files, string(f))
		default:
			files = append(files, strings.TrimSuffix(show, "/")+string(f[1:]))
		}
	}
	res := ListResult{Success: true, Files: files}
	if len(files) > MaxFiles {
		res.Files, res.Truncated = files[:MaxFiles], true
	}
	return res, nil
}

// isWriteTemp hides the temp file of a write in flight. Only the exact
// name write.bash makes counts: a user's ".dockerbridge-write.notes" is
// the user's.
func isWriteTemp(p []byte) bool {
	return writeTempRE().Match(p[bytes.LastIndexByte(p, '/')+1:])
}

// writeTempPrefix starts the name of every write's temp file:
// .dockerbridge-write.PID.START.RANDOM, the writer's pid and start time (in
// clock ticks since boot) and a random number, all in decimal.
const writeTempPrefix = ".dockerbridge-write."

var writeTempRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\.dockerbridge-write\.[1-9][0-9]*\.[0-9]+\.[0-9]+$`)
})

// GrepResult is the original's grep dict. Matches is grep -rn's output.
type GrepResult struct {
	Success   bool   `json:"success"`
	Matches   string `json:"matches"`
	Truncated bool   `json:"truncated"`
	Count     int    `json:"count"`
}

// Grep searches p recursively for the basic regular expression pattern and
// returns up to MaxMatches lines. No match is a success with no matches.
// A line cut at the output cap, or lines past MaxMatches, set Truncated. A
// binary file that matches is one line, "Binary file NAME matches".
func (b *Bridge) Grep(ctx context.Context, pattern, p string) (GrepResult, error) {
	if p == "" {
		p = "."
	}
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return GrepResult{}, fmt.Errorf("grep: %w", err)
	}
	out := &headBuffer{max: b.cfg.OutputCap}
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, grepScript(), dockercli.Cmd{Stdout: out, Stderr: stderr}, false, abs, pattern, strconv.Itoa(MaxMatches+1))
	if err != nil {
		return GrepResult{}, fmt.Errorf("grep %s: %w", p, err)
	}
	show := displayPath(p, abs)
	text := string(out.buf)
	binary := binaryMatches(stderr.String(), show)
	if code != 0 && text == "" && len(binary) == 0 {
		return GrepResult{}, scriptError("grep", p, code, stderr.String())
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	res := GrepResult{Success: true, Truncated: out.over}
	if res.Truncated && len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n" // the line that reached the cap, cut there
	}
	// Names come relative to the directory ("./x:1:..."); they are given
	// back the way the caller spelled the path, as grep -rn "$path" would.
	if show != "." {
		prefix := strings.TrimSuffix(show, "/") + "/"
		for i, l := range lines {
			if strings.HasPrefix(l, "./") {
				lines[i] = prefix + l[2:]
			}
		}
	}
	lines = append(lines, binary...)
	if len(lines) > MaxMatches {
		lines, res.Truncated = lines[:MaxMatches], true
	}
	res.Matches = strings.Join(lines, "")
	res.Count = len(lines)
	return res, nil
}

// binaryMatches turns grep's "grep: NAME: binary file matches" notes on
// stderr into match lines, with NAME as the caller spelled the path.
func binaryMatches(stderr, show string) (lines []string) {
	for _, l := range strings.Split(stderr, "\n") {
		name, ok := strings.CutSuffix(l, ": binary file matches")
		if !ok || !strings.HasPrefix(name, "grep: ") {
			continue
		}
		name = strings.TrimPrefix(name, "grep: ")
		switch {
		case name == "(standard input)":
			name = show
		case strings.HasPrefix(name, "./") && show != ".":
			name = strings.TrimSuffix(show, "/") + "/" + name[2:]
		}
		lines = append(lines, "Binary file "+name+" matches\n")
	}
	return lines
}

// headBuffer keeps the first max bytes written and notes whether more came.
type headBuffer struct {
	max  int
	buf  []byte
	over bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.buf); room < len(p) {
		h.buf = append(h.buf, p[:max(room, 0)]...)
		h.over = true
	} else {
		h.buf = append(h.buf, p...)
	}
	return len(p), nil
}
