package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	_ "embed"

	"dockerbridge/dockercli"
)

// Snapshots and commits run git inside the container, as the project user,
// so that every object, ref and file they write belongs to that user. The
// scripts are constant, kept in scripts/*.bash: each is git.bash followed
// by its own file. The caller's message, snapshot id and trailers reach
// them only as positional arguments.
//
// git.bash is shared by every git script:
//   - safe.directory is passed per invocation, so a workspace whose owner
//     differs from the project uid ("dubious ownership") works without
//     touching any git config file;
//   - an identity is passed only where the repository (or the container's
//     HOME) has none, since the container's uid usually has no passwd entry;
//   - .tmp and .npm, the container's TMPDIR and npm cache, are never
//     snapshotted, restored or committed: they belong to the container, and
//     tmux keeps its socket there.
var (
	//go:embed scripts/git.bash
	scriptGit string
	//go:embed scripts/snapshot.bash
	scriptSnapshot string
	//go:embed scripts/snapshot-ls.bash
	scriptSnapshotList string
	//go:embed scripts/snapshot-diff.bash
	scriptSnapshotDiff string
	//go:embed scripts/snapshot-restore.bash
	scriptSnapshotRestore string
	//go:embed scripts/commit.bash
	scriptCommit string
)

// The git scripts, whole, joined when used (see writeScript).
//
// snapshotScript's $1 is the message; snapshotDiffScript's and
// snapshotRestoreScript's the snapshot (see snapshot-diff.bash and
// snapshot-restore.bash); commitScript's $1 the message, the rest trailers
// ("Key: value").
func snapshotScript() string        { return scriptGit + scriptSnapshot }
func snapshotListScript() string    { return scriptGit + scriptSnapshotList }
func snapshotDiffScript() string    { return scriptGit + scriptSnapshotDiff }
func snapshotRestoreScript() string { return scriptGit + scriptSnapshotRestore }
func commitScript() string          { return scriptGit + scriptCommit }

// The git scripts' exit codes. This is their one table; the scripts use
// the numbers. 94 is the file scripts' exitSetup, and is read as theirs.
const (
	exitGitSetup   = exitSetup // a step failed (cd, mktemp, cp); stderr says why
	exitGit        = 95        // git failed; its message is on stderr
	exitNoSnapshot = 96        // no such snapshot
	exitNoRepo     = 97        // /workspace is not a git repository
)

// SnapshotRef is where snapshot n lives: refs/dockerbridge/snapshots/<n>.
const SnapshotRef = "refs/dockerbridge/snapshots/"

// ErrNoRepo reports a workspace that is not a git repository.
var ErrNoRepo = errors.New(Workspace + " is not a git repository (take a snapshot or commit to create one)")

// ErrNoSnapshot reports a snapshot id that names no snapshot.
var ErrNoSnapshot = errors.New("no such snapshot")

// ErrSnapshotID reports a snapshot id that is neither a number nor a commit
// id.
var ErrSnapshotID = errors.New("give a snapshot's number or a commit id")

// RestoreError is a restore that failed part way: Undo is the snapshot of
// the state before it, which restoring brings back.
type RestoreError struct {
	Undo int
	Err  error
}

func (e *RestoreError) Error() string { return e.Err.Error() }

func (e *RestoreError) Unwrap() error { return e.Err }

// SnapshotResult is one snapshot just taken.
type SnapshotResult struct {
	Success bool   `json:"success"`
	ID      int    `json:"id"`
	Ref     string `json:"ref"`
	SHA     string `json:"sha"`
	Tree    string `json:"tree"`
	Parent  string `json:"parent"`
	Files   int    `json:"files"`
	Message string `json:"message"`
	// Initialized says the workspace was not a git repository and one was
	// created for the snapshot.
	Initialized bool `json:"initialized"`
}

// SnapshotInfo is one row of snapshot ls.
type SnapshotInfo struct {
	ID      int    `json:"id"`
	Ref     string `json:"ref"`
	SHA     string `json:"sha"`
	Time    string `json:"time"`
	Message string `json:"message"`
}

// DiffResult is what changed in the working tree since a snapshot.
type DiffResult struct {
	Success      bool   `json:"success"`
	SHA          string `json:"sha"`
	FilesChanged int    `json:"files_changed"`
	Insertions   int    `json:"insertions"`
	Deletions    int    `json:"deletions"`
	// Diff is git's --stat followed by the patch.
	Diff      string `json:"diff"`
	Truncated bool   `json:"truncated"`
}

// RestoreResult says what a restore did and how to undo it.
type RestoreResult struct {
	Success bool   `json:"success"`
	SHA     string `json:"sha"`
	// Undo is the snapshot of the state before the restore.
	Undo    SnapshotResult `json:"undo"`
	Written int            `json:"written"`
	Removed int            `json:"removed"`
	// asked is the snapshot as the caller named it, for WriteText.
	asked string
}

// CommitResult is the result of Commit.
type CommitResult struct {
	Success      bool   `json:"success"`
	Committed    bool   `json:"committed"`
	SHA          string `json:"sha"`
	FilesChanged int    `json:"files_changed"`
	Insertions   int    `json:"insertions"`
	Deletions    int    `json:"deletions"`
	Initialized  bool   `json:"initialized"`
}

// gitScript runs a git script in the container through the door, under the
// bridge's timeout.
func (b *Bridge) gitScript(ctx context.Context, op, script string, stdout io.Writer, args ...string) error {
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.run(ctx, call{
		argv:    append([]string{"bash", "-c", script, "bash"}, args...),
		needs:   []string{"git"},
		mark:    true,
		stdout:  stdout,
		stderr:  stderr,
		timeout: b.cfg.Timeout,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch code {
	case 0:
		return nil
	case exitNoRepo:
		return fmt.Errorf("%s: %w", op, ErrNoRepo)
	case exitNoSnapshot:
		return fmt.Errorf("%s: %w", op, ErrNoSnapshot)
	case exitGit:
		return fmt.Errorf("%s: %s", op, orUnknown(gitMessage(stderr.String())))
	}
	return scriptError(op, Workspace, code, stderr.String())
}

// gitMessage picks the line of git's stderr that says what went wrong:
// its "fatal:" or "error:" line if there is one, else the first.
func gitMessage(s string) string {
	for _, line := range strings.Split(s, "\n") {
		for _, p := range []string{"fatal: ", "error: "} {
			if strings.HasPrefix(line, p) {
				return strings.TrimSpace(strings.TrimPrefix(line, p))
			}
		}
	}
	return dockercli.FirstLine(s)
}

// fields reads the key=value lines a git script prints until a blank line;
// rest is whatever follows it.
func fields(out string) (kv map[string]string, rest string) {
	kv = map[string]string{}
	for out != "" {
		line, after, _ := strings.Cut(out, "\n")
		out = after
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv, out
}

// idRE is a commit id; its length, 4 to 64, is checked apart: a {4,64}
// repetition compiles into 64 copies, which cost every start of the tool.
var idRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-f]+$`)
})

// checkSnapshotID accepts a snapshot number or a commit id.
func checkSnapshotID(id string) error {
	number := id != "" && strings.Trim(id, "0123456789") == ""
	if !number && (len(id) < 4 || len(id) > 64 || !idRE().MatchString(id)) {
		return fmt.Errorf("invalid snapshot id %q: %w", id, ErrSnapshotID)
	}
	return nil
}

// Snapshot records the working tree (tracked, modified and untracked files,
// not ignored ones) as a commit under refs/dockerbridge/snapshots/<n>,
// without moving HEAD, touching the index or changing a file. A workspace
// that is not a repository gets one first, and the result says so.
func (b *Bridge) Snapshot(ctx context.Context, msg string) (SnapshotResult, error) {
	if msg == "" {
		msg = "dockerbridge snapshot"
	}
	out := dockercli.NewCapBuffer(stderrKeep)
	if err := b.gitScript(ctx, "snapshot", snapshotScript(), out, msg); err != nil {
		return SnapshotResult{}, err
	}
	kv, _ := fields(out.String())
	res := snapshotFrom(kv, "")
	res.Message = msg
	res.Initialized = kv["initialized"] == "1"
	if res.SHA == "" {
		return res, errors.New("snapshot: no commit recorded")
	}
	return res, nil
}

func snapshotFrom(kv map[string]string, prefix string) SnapshotResult {
	id, _ := strconv.Atoi(kv[prefix+"id"])
	files, _ := strconv.Atoi(kv[prefix+"files"])
	return SnapshotResult{
		Success: true,
		ID:      id,
		Ref:     SnapshotRef + kv[prefix+"id"],
		SHA:     kv[prefix+"sha"],
		Tree:    kv[prefix+"tree"],
		Parent:  kv[prefix+"parent"],
		Files:   files,
	}
}

// Snapshots lists the snapshots, oldest first. A workspace that is not a
// repository has none.
func (b *Bridge) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	out := dockercli.NewCapBuffer(b.cfg.OutputCap)
	err := b.gitScript(ctx, "snapshot ls", snapshotListScript(), out)
	if errors.Is(err, ErrNoRepo) {
		return []SnapshotInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	list := []SnapshotInfo{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 4)
		if len(f) < 4 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue // not one of ours
		}
		list = append(list, SnapshotInfo{ID: n, Ref: SnapshotRef + f[0], SHA: f[1], Time: f[2], Message: f[3]})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, nil
}

// SnapshotDiff returns what changed in the working tree since snapshot id:
// git's stat and patch, and the counts.
func (b *Bridge) SnapshotDiff(ctx context.Context, id string) (DiffResult, error) {
	if err := checkSnapshotID(id); err != nil {
		return DiffResult{}, err
	}
	out := dockercli.NewCapBuffer(b.cfg.OutputCap)
	if err := b.gitScript(ctx, "snapshot diff "+id, snapshotDiffScript(), out, id); err != nil {
		return DiffResult{}, err
	}
	kv, rest := fields(captured(out))
	res := DiffResult{Success: true, SHA: kv["sha"], Diff: rest, Truncated: out.Truncated()}
	res.FilesChanged, res.Insertions, res.Deletions = shortstat(kv["shortstat"])
	return res, nil
}

// Restore brings the working tree back to snapshot id, byte for byte: files
// the snapshot has are written, files created since are removed, ignored
// files are never removed. It first snapshots the current state, so that a
// restore can itself be undone. HEAD and the index are not touched.
func (b *Bridge) Restore(ctx context.Context, id string) (RestoreResult, error) {
	if err := checkSnapshotID(id); err != nil {
		return RestoreResult{}, err
	}
	out := dockercli.NewCapBuffer(stderrKeep)
	err := b.gitScript(ctx, "snapshot restore "+id, snapshotRestoreScript(), out, id)
	kv, _ := fields(out.String())
	res := RestoreResult{Success: err == nil, SHA: kv["sha"], Undo: snapshotFrom(kv, "undo_"), asked: id}
	res.Undo.Message = "dockerbridge: before restoring snapshot " + id
	res.Written, _ = strconv.Atoi(kv["written"])
	res.Removed, _ = strconv.Atoi(kv["removed"])
	if err != nil && res.Undo.SHA != "" {
		// Part of the tree may have been restored: say how to go back.
		return res, &RestoreError{Undo: res.Undo.ID, Err: err}
	}
	return res, err
}

// Commit stages everything (add -A) and commits it as the project user,
// with the given trailers ("Key=value" or "Key: value"). With nothing to
// commit it succeeds with Committed false.
func (b *Bridge) Commit(ctx context.Context, msg string, trailers []string) (CommitResult, error) {
	if strings.TrimSpace(msg) == "" {
		return CommitResult{}, errors.New("commit: empty message")
	}
	args := []string{msg}
	for _, t := range trailers {
		tr, err := Trailer(t)
		if err != nil {
			return CommitResult{}, fmt.Errorf("commit: %w", err)
		}
		args = append(args, tr)
	}
	out := dockercli.NewCapBuffer(stderrKeep)
	if err := b.gitScript(ctx, "commit", commitScript(), out, args...); err != nil {
		return CommitResult{}, err
	}
	kv, _ := fields(out.String())
	res := CommitResult{Success: true, Committed: kv["committed"] == "1", SHA: kv["sha"], Initialized: kv["initialized"] == "1"}
	res.FilesChanged, res.Insertions, res.Deletions = shortstat(kv["shortstat"])
	return res, nil
}

var trailerKeyRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)
})

// Trailer turns "Key=value" (or "Key: value") into git's "Key: value". A
// value's line breaks become spaces: a trailer is one line.
func Trailer(s string) (string, error) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", fmt.Errorf("invalid trailer %q: want KEY=VALUE", s)
	}
	key, value := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	if !trailerKeyRE().MatchString(key) {
		return "", fmt.Errorf("invalid trailer key %q: use letters, digits and '-'", key)
	}
	value = strings.Join(strings.Fields(value), " ")
	if value == "" {
		return "", fmt.Errorf("invalid trailer %q: empty value", s)
	}
	return key + ": " + value, nil
}

var (
	filesRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(\d+) files? changed`)
	})
	insRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(\d+) insertions?\(\+\)`)
	})
	delRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(\d+) deletions?\(-\)`)
	})
)

// shortstat parses git's --shortstat line.
func shortstat(s string) (files, ins, del int) {
	num := func(re *regexp.Regexp) int {
		if m := re.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return 0
	}
	return num(filesRE()), num(insRE()), num(delRE())
}
