# shellcheck shell=bash
# grep: $3 is the pattern, $4 the most lines to print. In a directory it
# searches "." after entering and checking it, and prints names as "./x"; a
# file is searched through a checked descriptor, as grep -rn of one file
# prints: no name. grep's 1 (no match) is a success with no matches.
set -o pipefail
if cd -P -- "$2" 2>/dev/null; then
  checked
  if [[ $(grep -V 2>/dev/null) == *GNU* ]]; then
    grep -rn -e "$3" -- . | head -n "$4"
  else
    # busybox's grep -r reads a symlink to a file wherever it points; find
    # -type f passes no symlink. (A rename between find and grep can still
    # swap one in: GNU grep, which opens with O_NOFOLLOW, has no such gap.)
    find . -type f -exec grep -nH -e "$3" -- {} + | head -n "$4"
  fi
else
  [ "$2" = /workspace ] && exit 90
  d=${2%/*}
  enter "${d:-/}"
  open3 "${2##*/}"
  grep -n -e "$3" <&3 | head -n "$4"
fi
s=$?
[ "$s" = 1 ] && exit 0
[ "$s" = 141 ] && exit 0
exit "$s"
