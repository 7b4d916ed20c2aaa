#!/bin/bash
# Records what a pane prints (tmux pipe-pane feeds it on stdin) in $1,
# keeping it bounded: once $1 holds $2 bytes it becomes $1.1 (the one before
# is dropped) and a new $1 begins, so the last $2 to 2*$2 bytes are kept.
# Each dd takes what one read returns, never more than $1 has room for, so
# what the pane printed reaches the file at once: head -c would hold it back
# until it had all it was asked for.
set -u
f=$1 limit=$2
mkdir -p -- "${f%/*}" || exit 1
# Kept out of git status, when the directory is in a repository's tree.
[ -e "${f%/*}/.gitignore" ] || printf '*\n' >"${f%/*}/.gitignore"
# A new session starts a new transcript.
rm -f -- "$f.1"
: >"$f"
size=0
while :; do
  if [ "$size" -ge "$limit" ]; then
    mv -f -- "$f" "$f.1"
    : >"$f"
    size=0
  fi
  room=$((limit - size))
  dd bs=$((room < 65536 ? room : 65536)) count=1 2>/dev/null >>"$f" || exit 0
  now=$(wc -c <"$f")
  [ "$now" -gt "$size" ] || exit 0
  size=$now
done
