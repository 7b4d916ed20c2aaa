# shellcheck shell=bash
# cp: where a copy goes or comes from, resolved in the container. $3 = in:
# $2 is the destination; prints the real directory to unpack into, NUL,
# then "dir" when $2 is a directory (the copy goes in it under its own
# name) or "new" (the copy is named as $2's last component). $3 = out: $2 is
# the source; prints its real directory, NUL, and its name there.
if [ "$3" = in ] && [ -d "$2" ]; then
  enter "$2"
  printf '%s\0dir\0' "$PWD"
  exit 0
fi
if [ "$2" = /workspace ] || [ "$2" = / ]; then
  enter "$2"
  name=${PWD##*/}
  cd .. || exit 94
  printf '%s\0%s\0' "$PWD" "$name"
  exit 0
fi
d=${2%/*}
enter "${d:-/}"
name=${2##*/}
if [ "$3" = in ]; then
  printf '%s\0new\0' "$PWD"
  exit 0
fi
[ -e "$name" ] || [ -L "$name" ] || exit 90
printf '%s\0%s\0' "$PWD" "$name"
