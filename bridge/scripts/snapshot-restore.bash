# shellcheck shell=bash
# shellcheck disable=SC2154 # idx, snap, tf and excl are set by git.bash
# snapshot restore: $1 is the snapshot (s). It first takes a snapshot of
# the current state (u), then:
#   - puts the snapshot's .gitignore files in place, so that what counts as
#     ignored from then on is what the snapshot ignored;
#   - removes every file that u has and s lacks, unless s's rules ignore it
#     (it may have been there, ignored, when s was taken);
#   - writes every file that s has and u lacks or holds differently.
#
# A file ignored under the current rules is in u only if s has it, so no
# ignored file is ever removed. The real index and HEAD are left alone.
repo 0
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
