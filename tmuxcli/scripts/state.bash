#!/bin/bash
# The state of one pane in one process: "$@" is the tmux call that prints the
# pane's line (pid first, then dead, status, activity, tty, id, command)
# and its capture.
# This adds a line before it with what /proc says about the pane's
# foreground process group:
#   proc <TAB> now <TAB> fg pgid <TAB> states <TAB> wchan <TAB> fd 0 <TAB> comm
# states has one letter per process of the group (R running, S sleeping...);
# wchan is where the group's leader sleeps in the kernel (or, when the
# leader is a shell waiting for it, the group's newest other process); fd 0
# is what its stdin is. Only bash builtins read /proc, so that a container
# with many processes costs no fork per process.
set -u
command -v "$1" >/dev/null 2>&1 || { printf 'dockerbridge-missing %s\n' "$1" >&2; exit 127; }
out=$("$@") || exit
head=${out%%$'\n'*}
IFS=$'\t' read -r pid _ <<<"$head"
now=$(printf '%(%s)T' -1)
fg='' states='' wchan='' fd0='' comm=''
if [[ $pid =~ ^[0-9]+$ ]] && { read -r st <"/proc/$pid/stat"; } 2>/dev/null; then
  # After the command name: state ppid pgrp session tty_nr tpgid ...
  st=${st##*) }
  read -r _ _ _ _ _ fg _ <<<"$st"
  if [[ $fg =~ ^[0-9]+$ ]] && [ "$fg" -gt 0 ]; then
    members=()
    for p in /proc/[0-9]*; do
      { read -r st <"$p/stat"; } 2>/dev/null || continue
      st=${st##*) }
      read -r s _ g _ <<<"$st"
      if [ "$g" = "$fg" ]; then
        states+=$s
        members+=("${p#/proc/}")
      fi
    done
    # wchan ends without a newline: read fails but sets the variable.
    { read -r wchan <"/proc/$fg/wchan" || :; } 2>/dev/null
    # A leader that waits for a child is a shell that ran the program
    # without exec (sh -c 'python3 -i'): the newest member that does not
    # wait is the one to look at.
    look=$fg
    if [ "$wchan" = do_wait ]; then
      for m in "${members[@]}"; do
        w=''
        { read -r w <"/proc/$m/wchan" || :; } 2>/dev/null
        if [ "$w" != do_wait ] && [ "$m" -gt "$look" ]; then
          look=$m wchan=$w
        fi
      done
    fi
    { read -r comm <"/proc/$look/comm" || :; } 2>/dev/null
    fd0=$(readlink "/proc/$look/fd/0" 2>/dev/null) || fd0=''
  fi
fi
printf 'proc\t%s\t%s\t%s\t%s\t%s\t%s\n' "$now" "$fg" "$states" "$wchan" "$fd0" "$comm"
printf '%s\n' "$out"
