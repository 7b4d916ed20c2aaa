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

	"dockerbridge/dockercli"
)

// Snapshots and commits run git inside the container, as the project user,
// so that every object, ref and file they write belongs to that user. The
// scripts are constants; the caller's message, snapshot id and trailers
// reach them only as positional arguments.
//
// gitPrelude is shared by every git script:
//   - safe.directory is passed per invocation, so a workspace whose owner
//     differs from the project uid ("dubious ownership") works without
//     touching any git config file;
//   - an identity is passed only where the repository (or the container's
//     HOME) has none, since the container's uid usually has no passwd entry;
//   - .tmp and .npm, the container's TMPDIR and npm cache, are never
//     snapshotted, restored or committed: they belong to the container, and
//     tmux keeps its socket there.
const gitPrelude = `set -u
cd /workspace || exit 94
ident=()
tmps=()
trap 'rm -f -- "${tmps[@]}"' EXIT
# The bracket keeps git add from naming .tmp itself, which it would report
# as "ignored by one of your .gitignore files" and fail, where it is ignored.
# A write's temp file (.dockerbridge-write.*) is never content.
excl=(':(exclude,top).tm[p]/*' ':(exclude,top).np[m]/*' ':(exclude,top,glob)**/.dockerbridge-write.*')
g() { git -c safe.directory=/workspace -c core.quotePath=false "${ident[@]}" "$@"; }
die() { printf '%s\n' "$*" >&2; exit 95; }
# git allocates and frees zlib's buffers for every object it writes, and
# glibc hands the memory back to the kernel each time: those brk calls cost
# more than the hashing (10,000 files: 15 s, 2 s with the heap kept).
bulk() { MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_TOP_PAD_=16777216 g "$@"; }

# repo finds the repository at /workspace and sets gd to its git dir. With
# $1 = 1 it initialises one where there is none, and says so.
repo() {
  local out
  if out=$(g rev-parse --show-toplevel --absolute-git-dir 2>/dev/null); then
    [ "${out%%$'\n'*}" = /workspace ] || die "the git repository is at ${out%%$'\n'*}, not /workspace"
    gd=${out#*$'\n'}
    return 0
  fi
  if [ -e .git ]; then
    g rev-parse --show-toplevel >/dev/null
    exit 95
  fi
  [ "$1" = 1 ] || exit 97
  g init -q >/dev/null || exit 95
  echo initialized=1
  gd=$(g rev-parse --absolute-git-dir) || exit 95
  # A repository made here should not list the container's own directories
  # as untracked: git status then matches what a commit takes.
  printf '/.tmp/\n/.npm/\n' >>"$gd/info/exclude"
}

who() {
  local have
  have=$(g config --get-regexp '^user\.(name|email)$' 2>/dev/null)
  [[ $have == *user.name\ * ]] || ident+=(-c user.name=dockerbridge)
  [[ $have == *user.email\ * ]] || ident+=(-c user.email=dockerbridge@localhost)
}

# tmpindex makes a fresh index file name in the git dir and sets idx. An
# index killed with its writer is swept an hour later.
tmpindex() {
  find "$gd" -maxdepth 1 -name 'dockerbridge-index.*' -mmin +60 -delete 2>/dev/null
  idx=$(mktemp "$gd/dockerbridge-index.XXXXXX") || exit 94
  tmps+=("$idx" "$idx.lock")
  rm -f -- "$idx"
}

# stage fills a temporary index with the working tree, as add -A would the
# real one: HEAD, the real index and the files stay as they are. Starting
# from a copy of the real index keeps tracked files that match .gitignore,
# and lets git skip hashing files whose stat data has not changed; cp -p
# keeps the index's mtime, which git's check for racily clean files needs.
# Without a real index (nothing is tracked) the last snapshot's index,
# minus files ignored since, serves the same purpose. A big-file threshold
# of one byte streams new blobs into one pack instead of a loose file each:
# on 10,000 files that is 6 MB on disk instead of 41 MB, and no automatic
# gc in the user's next commit.
stage() {
  tmpindex
  if [ -s "$gd/index" ]; then
    cp -p -- "$gd/index" "$idx" || exit 94
  elif [ -s "$gd/dockerbridge-index" ]; then
    cp -p -- "$gd/dockerbridge-index" "$idx" || exit 94
    GIT_INDEX_FILE=$idx g ls-files -z -c -i --exclude-standard |
      GIT_INDEX_FILE=$idx g update-index -z --force-remove --stdin || exit 95
  fi
  GIT_INDEX_FILE=$idx bulk -c core.bigFileThreshold=1 add -A -- . "${excl[@]}" || exit 95
  if [ ! -s "$gd/index" ]; then
    cp -p -- "$idx" "$gd/dockerbridge-index.new" && mv -f -- "$gd/dockerbridge-index.new" "$gd/dockerbridge-index"
  fi
}

# also adds to the staged index the files of commit $1 that exist but were
# skipped as ignored: a restore of $1 overwrites them, and a diff against $1
# should show them changed, not deleted.
also() {
  LC_ALL=C comm -z -23 <(g ls-tree -r -z --name-only "$1" | LC_ALL=C sort -z) \
    <(GIT_INDEX_FILE=$idx g ls-files -z | LC_ALL=C sort -z) |
    while IFS= read -r -d '' p; do
      if [ -L "$p" ] || [ -f "$p" ]; then printf '%s\0' "$p"; fi
    done | GIT_INDEX_FILE=$idx g update-index -z --add --stdin || exit 95
}

# take records the working tree as refs/dockerbridge/snapshots/<n> and prints
# its fields, each name prefixed with $2. Its parent is the previous
# snapshot, else HEAD; snap is set to the new commit. With $3, a commit about
# to be restored, its files that exist but are ignored now are recorded too,
# so that the restore, which overwrites them, can be undone.
take() {
  local tree last parent n err
  stage
  [ -z "${3:-}" ] || also "$3"
  tree=$(GIT_INDEX_FILE=$idx g write-tree) || exit 95
  last=0 parent=
  while read -r n sha; do
    case $n in '' | *[!0-9]*) continue ;; esac
    if [ "$n" -gt "$last" ]; then last=$n parent=$sha; fi
  done < <(g for-each-ref --format='%(refname:lstrip=3) %(objectname)' refs/dockerbridge/snapshots/)
  if [ -z "$parent" ]; then
    parent=$(g rev-parse -q --verify 'HEAD^{commit}') || parent=
  fi
  snap=$(g commit-tree --no-gpg-sign ${parent:+-p "$parent"} -m "$1" "$tree") || exit 95
  n=$((last + 1))
  # An empty old value makes update-ref fail if another snapshot took n.
  until err=$(g update-ref "refs/dockerbridge/snapshots/$n" "$snap" "" 2>&1); do
    n=$((n + 1))
    [ "$n" -le $((last + 20)) ] || die "$err"
  done
  printf '%sid=%s\n%ssha=%s\n%stree=%s\n%sparent=%s\n%sfiles=%s\n' \
    "$2" "$n" "$2" "$snap" "$2" "$tree" "$2" "$parent" "$2" "$(GIT_INDEX_FILE=$idx g ls-files | wc -l)"
}

# tmpfile makes a temporary file in the git dir and sets tf.
tmpfile() {
  tf=$(mktemp "$gd/dockerbridge-list.XXXXXX") || exit 94
  tmps+=("$tf")
}

# resolve prints the commit of snapshot $1: a number, or a hex commit id.
resolve() {
  local r=$1
  case $r in
    '' | *[!0-9a-f]*) exit 96 ;;
    *[!0-9]*) ;;
    *) r=refs/dockerbridge/snapshots/$r ;;
  esac
  g rev-parse -q --verify "$r^{commit}" || exit 96
}
`

// $1 is the message.
const snapshotScript = gitPrelude + `repo 1
who
take "$1" ""
`

const snapshotListScript = gitPrelude + `repo 0
g for-each-ref --format='%(refname:lstrip=3)%09%(objectname)%09%(creatordate:iso-strict)%09%(contents:subject)' refs/dockerbridge/snapshots/
`

// $1 is the snapshot. The temporary index holds the working tree, so the
// cached diff against the snapshot is the diff to the working tree,
// untracked files included.
const snapshotDiffScript = gitPrelude + `repo 0
s=$(resolve "$1") || exit 96
stage
also "$s"
d=(g diff --cached --no-ext-diff --no-textconv --no-color)
printf 'sha=%s\nshortstat=%s\n\n' "$s" "$(GIT_INDEX_FILE=$idx "${d[@]}" --shortstat "$s" --)"
GIT_INDEX_FILE=$idx "${d[@]}" --stat --patch "$s" --
`

// $1 is the snapshot (s). It first takes a snapshot of the current state
// (u), then:
//   - puts the snapshot's .gitignore files in place, so that what counts as
//     ignored from then on is what the snapshot ignored;
//   - removes every file that u has and s lacks, unless s's rules ignore it
//     (it may have been there, ignored, when s was taken);
//   - writes every file that s has and u lacks or holds differently.
//
// A file ignored under the current rules is in u only if s has it, so no
// ignored file is ever removed. The real index and HEAD are left alone.
const snapshotRestoreScript = gitPrelude + `repo 0
who
s=$(resolve "$1") || exit 96
printf 'sha=%s\n' "$s"
take "dockerbridge: before restoring snapshot $1" undo_ "$s"
u=$snap
export LC_ALL=C
tmpindex
GIT_INDEX_FILE=$idx g read-tree "$s" || exit 95
changes() { g diff-tree -r -z --name-only --no-renames --diff-filter="$1" "$2" "$3" || exit 95; }
rules() { grep -z '\(^\|/\)\.gitignore$'; }
removed=0
remove() {
  while IFS= read -r -d '' p; do
    # A gitlink (an embedded repository) is a directory: leave it.
    if [ -d "$p" ] && [ ! -L "$p" ]; then continue; fi
    [ -e "$p" ] || [ -L "$p" ] || continue
    rm -f -- "$p" || exit 94
    removed=$((removed + 1))
    case $p in */*) rmdir -p --ignore-fail-on-non-empty -- "${p%/*}" 2>/dev/null ;; esac
  done
}
tmpfile; gone=$tf
changes A "$s" "$u" >"$gone"
remove < <(rules <"$gone")
rules < <(changes AMT "$u" "$s") | GIT_INDEX_FILE=$idx g checkout-index -f -q -z --stdin || exit 95
tmpfile; ign=$tf
GIT_INDEX_FILE=$idx g check-ignore -z --stdin <"$gone" >"$ign"
[ $? -le 1 ] || exit 95
remove < <(comm -z -23 <(sort -z "$gone") <(sort -z "$ign"))
tmpfile; put=$tf
written=0
blocked=
while IFS= read -r -d '' p; do
  if [ -d "$p" ] && [ ! -L "$p" ] && ! rmdir -- "$p" 2>/dev/null; then
    blocked=$p
    continue
  fi
  printf '%s\0' "$p"
  written=$((written + 1))
done < <(changes AMT "$u" "$s") >"$put"
GIT_INDEX_FILE=$idx g checkout-index -f -q -z --stdin <"$put" || exit 95
printf 'removed=%s\nwritten=%s\n' "$removed" "$written"
[ -z "$blocked" ] || die "cannot restore $blocked: it is a directory that still holds files the snapshot lacks (ignored ones); move them away and restore again"
`

// $1 is the message, the rest are trailers ("Key: value").
const commitScript = gitPrelude + `repo 1
who
bulk add -A -- . "${excl[@]}" || exit 95
if g rev-parse -q --verify 'HEAD^{commit}' >/dev/null; then
  g diff-index --cached --quiet HEAD -- && { echo committed=0; exit 0; }
else
  [ -n "$(g ls-files | head -n 1)" ] || { echo committed=0; exit 0; }
fi
msg=$1
shift
tr=()
for t in "$@"; do tr+=(--trailer "$t"); done
g commit -q -m "$msg" "${tr[@]}" || exit 95
printf 'committed=1\nsha=%s\nshortstat=%s\n' "$(g rev-parse HEAD)" "$(g diff-tree -r --root --no-commit-id --shortstat HEAD)"
`

// Exit codes of the git scripts, beyond those of the file scripts.
const (
	exitGit        = 95 // git failed; its message is on stderr
	exitNoSnapshot = 96
	exitNoRepo     = 97
)

// SnapshotRef is where snapshot n lives: refs/dockerbridge/snapshots/<n>.
const SnapshotRef = "refs/dockerbridge/snapshots/"

// ErrNoRepo reports a workspace that is not a git repository.
var ErrNoRepo = errors.New(Workspace + " is not a git repository (take a snapshot or commit to create one)")

// ErrNoSnapshot reports a snapshot id that names no snapshot.
var ErrNoSnapshot = errors.New("no such snapshot (see: dockerbridge snapshot ls)")

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
	return errorLine(s)
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
var idRE = regexp.MustCompile(`^[0-9a-f]+$`)

// checkSnapshotID accepts a snapshot number or a commit id.
func checkSnapshotID(id string) error {
	number := id != "" && strings.Trim(id, "0123456789") == ""
	if !number && (len(id) < 4 || len(id) > 64 || !idRE.MatchString(id)) {
		return fmt.Errorf("invalid snapshot id %q: give its number (see snapshot ls) or a commit id", id)
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
	if err := b.gitScript(ctx, "snapshot", snapshotScript, out, msg); err != nil {
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
	err := b.gitScript(ctx, "snapshot ls", snapshotListScript, out)
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
	if err := b.gitScript(ctx, "snapshot diff "+id, snapshotDiffScript, out, id); err != nil {
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
	err := b.gitScript(ctx, "snapshot restore "+id, snapshotRestoreScript, out, id)
	kv, _ := fields(out.String())
	res := RestoreResult{Success: err == nil, SHA: kv["sha"], Undo: snapshotFrom(kv, "undo_")}
	res.Undo.Message = "dockerbridge: before restoring snapshot " + id
	res.Written, _ = strconv.Atoi(kv["written"])
	res.Removed, _ = strconv.Atoi(kv["removed"])
	if err != nil && res.Undo.SHA != "" {
		// Part of the tree may have been restored: say how to go back.
		return res, fmt.Errorf("%w (the state before it is snapshot %d: dockerbridge snapshot restore %d)", err, res.Undo.ID, res.Undo.ID)
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
	if err := b.gitScript(ctx, "commit", commitScript, out, args...); err != nil {
		return CommitResult{}, err
	}
	kv, _ := fields(out.String())
	res := CommitResult{Success: true, Committed: kv["committed"] == "1", SHA: kv["sha"], Initialized: kv["initialized"] == "1"}
	res.FilesChanged, res.Insertions, res.Deletions = shortstat(kv["shortstat"])
	return res, nil
}

var trailerKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// Trailer turns "Key=value" (or "Key: value") into git's "Key: value". A
// value's line breaks become spaces: a trailer is one line.
func Trailer(s string) (string, error) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", fmt.Errorf("invalid trailer %q: want KEY=VALUE", s)
	}
	key, value := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	if !trailerKeyRE.MatchString(key) {
		return "", fmt.Errorf("invalid trailer key %q: use letters, digits and '-'", key)
	}
	value = strings.Join(strings.Fields(value), " ")
	if value == "" {
		return "", fmt.Errorf("invalid trailer %q: empty value", s)
	}
	return key + ": " + value, nil
}

var (
	filesRE = regexp.MustCompile(`(\d+) files? changed`)
	insRE   = regexp.MustCompile(`(\d+) insertions?\(\+\)`)
	delRE   = regexp.MustCompile(`(\d+) deletions?\(-\)`)
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
	return num(filesRE), num(insRE), num(delRE)
}
