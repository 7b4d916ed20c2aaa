# shellcheck shell=bash
# write: streams framed input from stdin into a temp file beside the target
# and renames it over the target only once the end frame has arrived, so a
# writer killed part-way leaves the old file whole. Frames are "<n>\n" and
# n bytes; "0\n" ends. It prints one byte when it is ready, and the writer
# sends nothing before that: a retried exec then has consumed no input.
#
# The directory is entered once and checked (common.bash); the temp file is
# made and the rename done by names relative to it, so a rename of the path
# elsewhere cannot redirect them. A symlink as the last component is
# followed by hand, each hop checked the same way; the rename replaces a
# name and never follows one.
#
# Each frame costs one dd, which copies it through a fixed 128 KiB buffer
# whatever n is. A new file in an existing directory costs two processes
# (dd, mv): each process start stalls the write on a busy host.
p=$2
[ "$p" = /workspace ] && exit 95
d=${p%/*}
b=${p##*/}
[ -n "$b" ] || exit 95
enter "${d:-/}" 1
for ((hop = 0; ; hop++)); do
  [ -d "$b" ] && exit 95
  [ -L "$b" ] || break
  [ "$hop" -lt 40 ] || exit 94
  l=$(readlink -- "$b") || exit 94
  case $l in
    */) exit 95 ;;
    */*) enter "${l%/*}" 0 ;;
  esac
  b=${l##*/}
  case $b in .|..|'') exit 95 ;; esac
done
# A file the user may not write is refused, as writing it in place would be.
if [ -e "$b" ] && [ ! -w "$b" ]; then
  exit 96
fi

# A temp file whose writer is gone (killed with its container, say) is
# removed. Its name holds the writer's pid and start time, so a pid reused
# since does not keep it, and a live writer's file is left alone. Only a
# file that is provably such a temp file goes: exactly the name this script
# makes, a regular file of this user, from a writer that started before
# this one. Any other name is the user's, however it looks.
me=
if read -r -a st </proc/self/stat 2>/dev/null; then
  me=$$.${st[21]}
  re='^\.dockerbridge-write\.([1-9][0-9]{0,9})\.([1-9][0-9]{0,17})\.[0-9]{1,12}$'
  for f in .dockerbridge-write.[1-9]*.[1-9]*.[0-9]*; do
    [[ $f =~ $re ]] || continue
    if [ ! -f "$f" ] || [ -L "$f" ] || [ ! -O "$f" ]; then continue; fi
    pid=${BASH_REMATCH[1]} start=${BASH_REMATCH[2]}
    [ "$start" -le "${st[21]}" ] || continue
    if read -r -a ps </proc/"$pid"/stat 2>/dev/null && [ "${ps[21]}" = "$start" ]; then
      continue
    fi
    rm -f -- "$f"
  done
fi
set -C
while t=.dockerbridge-write.${me:-$$.0}.$RANDOM$RANDOM; ! { exec 4>"$t"; } 2>/dev/null; do
  [ -e "$t" ] || [ -L "$t" ] || cannot "$(: 2>&1 >"$t")"
done
set +C
trap 'rm -f -- "$t"' EXIT
printf R
ok=0
while IFS= read -r n; do
  case $n in '' | *[!0-9]*) break ;; esac
  if [ "$n" -eq 0 ]; then
    ok=1
    break
  fi
  dd bs=128K count="$n" iflag=count_bytes,fullblock status=none >&4 || exit 94
done
[ "$ok" = 1 ] || exit 93
exec 4>&-
# The target's mode carries over, or the write fails: a private file must
# not become readable by others. busybox's chmod has no --reference.
if [ -e "$b" ]; then
  chmod --reference="$b" -- "$t" 2>/dev/null ||
    { m=$(stat -c %a -- "$b") && chmod "$m" -- "$t"; } 2>/dev/null || exit 97
fi
mv -f -T -- "$t" "$b" || exit 94
trap - EXIT
