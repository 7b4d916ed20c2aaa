# shellcheck shell=bash
# Shared by the git scripts, which are this text followed by their own.
# Exit codes are the table in git.go.
set -u
cd /workspace || exit 94
ident=()
tmps=()
trap 'rm -f -- "${tmps[@]}"' EXIT
# The bracket keeps git add from naming .tmp itself, which it would report
# as "ignored by one of your .gitignore files" and fail, where it is ignored.
# A write's temp file (.dockerbridge-write.PID.START.N) is never content;
# another name that starts the same way is the user's.
excl=(':(exclude,top).tm[p]/*' ':(exclude,top).np[m]/*' ':(exclude,top,glob)**/.dockerbridge-write.[1-9]*.[0-9]*.[0-9]*')
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
