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
    [ -f "$t" ] && [ ! -L "$t" ] && exec "$t" -k 2 "$d" "$@"
  done
fi
exec "$@"
