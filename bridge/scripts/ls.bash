# shellcheck shell=bash
# ls: $3 is the name pattern, $4 the most paths to print. It prints "D" for
# a directory, then the files under it, relative to it ("./x"), or "F" and
# the file itself: each NUL-terminated. find starts from "." in the checked
# directory, so no name is ever parsed as one of its operators.
if cd -P -- "$2" 2>/dev/null; then
  checked
  printf 'D\0'
  from=.
else
  [ "$2" = /workspace ] && exit 90
  d=${2%/*}
  enter "${d:-/}"
  b=${2##*/}
  [ -e "$b" ] || [ -L "$b" ] || exit 90
  [ -d "$b" ] && denied "$b" enter
  printf 'F\0'
  from=./$b
fi
# The loop stops at the limit; find then dies of SIGPIPE (141), which is
# no error. Any other failure of find is one.
set -o pipefail
find "$from" -name "$3" -type f -print0 | {
  n=0
  while IFS= read -r -d '' f; do
    printf '%s\0' "$f"
    n=$((n + 1))
    [ "$n" -lt "$4" ] || exit 0
  done
}
s=$?
[ "$s" = 141 ] && exit 0
exit "$s"
