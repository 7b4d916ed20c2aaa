# shellcheck shell=bash
# Shared by the file scripts, which are this text followed by their own.
# Every script gets $1 = 1 when paths outside /workspace are allowed, and
# $2 = the path, absolute and lexically clean. Exit codes are the table
# scriptExits in files.go.
set -u
CDPATH=
allow=$1

# inside reports whether the current directory lies in /workspace. It
# climbs ".." from the directory the shell is really in: pwd -P would
# re-read a path string that a concurrent rename may have changed since.
inside() {
  local up=. i
  for ((i = 0; i < 256; i++)); do
    [ "$up" -ef /workspace ] && return 0
    [ "$up" -ef / ] && return 1
    up=$up/..
  done
  return 1
}

# checked exits unless the current directory is allowed.
checked() {
  [ "$allow" = 1 ] || inside || exit 92
}

# enter changes into the directory $1 and checks where it landed. With
# $2 = 1 it makes a missing directory (absolute $1 only), one component at a
# time, each in a checked directory, so that none is ever made outside.
enter() {
  if cd -P -- "$1" 2>/dev/null; then
    checked
    return 0
  fi
  if [ -e "$1" ]; then
    [ -d "$1" ] || exit 98
    denied "$1" enter
  fi
  [ "${2:-0}" = 1 ] && [[ $1 == /* ]] || exit 90
  local rest=${1#/} c
  if [ "$allow" != 1 ] && [[ $1 == /workspace/* ]]; then
    cd -P /workspace || exit 94
    rest=${1#/workspace/}
  else
    cd / || exit 94
  fi
  checked
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    [ "$c" = "$rest" ] && rest= || rest=${rest#*/}
    if ! cd -P -- "$c" 2>/dev/null; then
      if [ -e "$c" ]; then
        [ -d "$c" ] || exit 98
        denied "$c" enter
      fi
      [ -L "$c" ] && exit 90
      mkdir -- "$c" 2>/dev/null || cannot "$(mkdir -- "$c" 2>&1)"
      cd -P -- "$c" || exit 94
    fi
    checked
  done
}

# denied reports the directory $1 that the user may not $2 (enter, write),
# as "DIR\tUID\tOWNER\tVERB" on stderr.
denied() {
  local dir=$1 own
  own=$(stat -c %u:%g -- "$dir" 2>/dev/null) || own=unknown
  case $dir in
    .) dir=$PWD ;;
    /*) ;;
    *) dir=$PWD/$dir ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$dir" "${EUID:-?}" "$own" "$2" >&2
  exit 96
}

# cannot reports the failure $1 (a tool's message) to make something in the
# current directory: a permission problem is explained by denied.
cannot() {
  case $1 in
    *'Permission denied'*) denied . write ;;
  esac
  printf 'cannot write in directory %s: %s\n' "$PWD" "${1##*: }" >&2
  exit 94
}

# open opens $1 in the current directory on descriptor 3 and checks what was
# opened, after the fact, so that a name swapped for a symlink meanwhile
# cannot lead outside.
open3() {
  [ -e "$1" ] || exit 90
  [ -p "$1" ] && exit 91
  [ -d "$1" ] && exit 95
  { exec 3<"$1"; } 2>/dev/null || { [ -r "$1" ] || exit 96; exit 90; }
  [ -d /proc/self/fd/3 ] && exit 95
  [ -f /proc/self/fd/3 ] || exit 91
  [ "$allow" = 1 ] && return 0
  local real
  real=$(readlink /proc/self/fd/3) || exit 94
  case $real in /workspace/*) ;; *) exit 92 ;; esac
}
