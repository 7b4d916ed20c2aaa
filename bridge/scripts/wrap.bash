# shellcheck shell=bash
# The wrapper every call runs under (wrapScript in call.go): $1 the deadline
# in seconds (0: none), then the programs the call needs, "--", and the
# program with its arguments. A needed program that is missing prints the
# missing mark and its name on stderr and exits 127, as bash does for a
# command it cannot find. The start mark (NUL, "dockerbridge-start ", the
# pid, NUL) goes to stdout and stderr just before the program starts.
d=$1; shift
while [ "$1" != -- ]; do
  command -v "$1" >/dev/null 2>&1 || { printf 'dockerbridge-missing %s\n' "$1" >&2; exit 127; }
  shift
done
shift
printf '\0dockerbridge-start %d\0' "$$"
printf '\0dockerbridge-start %d\0' "$$" >&2
if [ "$d" != 0 ]; then
  for t in /usr/bin/timeout /bin/timeout; do
    [ -f "$t" ] && [ ! -L "$t" ] && exec "$t" -s KILL "$d" "$@"
  done
fi
exec "$@"
