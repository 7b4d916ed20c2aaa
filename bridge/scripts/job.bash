#!/bin/bash
# Background jobs in the container. Each job has a directory $root/NAME:
#   cmd      the command line          pid      the job's session leader
#   id       the job's exec id         log      its stdout and stderr
#   started  start time (epoch s)      exit     its exit status, once ended
#   ended    end time (epoch s)        killed   present when job kill ended it
# $1 is the verb, $2 the root, $3 the job's name (none for ls). Exit codes:
# 0 done, 3 no such job, 4 the job is still running (start), 124 wait timed
# out. The job runs in a session of its own, with the exec id in its
# environment, so that it outlives the docker exec that started it and the
# kill finds every process it made.
set -u
verb=$1 root=$2
shift 2
now() { printf '%(%s)T' -1; }

# starttime prints process $1's start time, in clock ticks since boot, or
# nothing. The fields are counted after the command's name, which may hold
# spaces.
starttime() {
  local line f
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
  read -r -a f <<<"${line##*) }"
  printf '%s\n' "${f[19]:-}"
}

# state prints the state of job directory $1: running, exited, killed or
# lost (no exit status and no process: the container was restarted). A pid
# alone proves nothing after a restart, where another process may have it:
# the process must also have the job's start time.
state() {
  local d=$1 pid='' start=''
  if [ -e "$d/killed" ]; then echo killed; return; fi
  if [ -e "$d/exit" ]; then echo exited; return; fi
  { read -r pid <"$d/pid"; } 2>/dev/null
  { read -r start <"$d/pidstart"; } 2>/dev/null
  if [ -n "$pid" ] && [ -n "$start" ] && [ "$(starttime "$pid")" = "$start" ]; then
    echo running
  elif [ -n "$pid" ] && [ ! -e "$d/pidstart" ] && kill -0 "$pid" 2>/dev/null; then
    echo running # a job from before start times were recorded
  else
    echo lost
  fi
}

# info prints one job: name, state, exit status, pid, id, started, ended,
# the command's first line; tab-separated.
info() {
  local d=$1 st code='' pid='' id='' started='' ended='' cmd=''
  st=$(state "$d")
  { read -r code <"$d/exit"; } 2>/dev/null
  { read -r pid <"$d/pid"; } 2>/dev/null
  { read -r id <"$d/id"; } 2>/dev/null
  { read -r started <"$d/started"; } 2>/dev/null
  { read -r ended <"$d/ended"; } 2>/dev/null
  { IFS= read -r cmd <"$d/cmd"; } 2>/dev/null
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${d##*/}" "$st" "$code" "$pid" "$id" "$started" "$ended" "$cmd"
}

case $verb in
start)
  name=$1 id=$2 cmd=$3 d=$root/$1
  if [ -d "$d" ] && [ "$(state "$d")" = running ]; then
    printf 'job %s is still running\n' "$name" >&2
    exit 4
  fi
  rm -rf -- "$d"
  mkdir -p -- "$d" || exit 1
  # Kept out of git status: the jobs' files are in the workspace's tree.
  [ -e "$root/.gitignore" ] || printf '*\n' >"$root/.gitignore"
  printf '%s\n' "$cmd" >"$d/cmd"
  printf '%s\n' "$id" >"$d/id"
  now >"$d/started"
  : >"$d/log"
  # The runner writes the exit status atomically, then the end time.
  # shellcheck disable=SC2016 # expanded by the runner, not here
  runner='bash -c "$1" </dev/null >>"$2/log" 2>&1
rc=$?
printf "%s\n" "$rc" >"$2/exit.new" && mv -f "$2/exit.new" "$2/exit"
printf "%(%s)T\n" -1 >"$2/ended"'
  ss=()
  command -v setsid >/dev/null 2>&1 && ss=(setsid)
  DOCKERBRIDGE_EXEC_ID=$id "${ss[@]}" bash -c "$runner" dockerbridge-job "$cmd" "$d" </dev/null >/dev/null 2>&1 &
  pid=$!
  starttime "$pid" >"$d/pidstart"
  printf '%s\n' "$pid" >"$d/pid"
  info "$d"
  ;;
ls)
  for d in "$root"/*/; do
    [ -e "${d}cmd" ] && info "${d%/}"
  done
  exit 0
  ;;
info)
  d=$root/$1
  [ -e "$d/cmd" ] || exit 3
  info "$d"
  ;;
logs)
  d=$root/$1 follow=$2
  [ -e "$d/cmd" ] || exit 3
  if [ "$follow" != 1 ]; then
    cat -- "$d/log"
    exit 0
  fi
  # Follow from the start until the job has ended, then print what is left.
  off=0
  while :; do
    st=$(state "$d")
    size=$(wc -c <"$d/log")
    if [ "$size" -gt "$off" ]; then
      tail -c +"$((off + 1))" -- "$d/log" | head -c "$((size - off))"
      off=$size
    fi
    [ "$st" = running ] || break
    sleep 0.2
  done
  size=$(wc -c <"$d/log")
  [ "$size" -gt "$off" ] && tail -c +"$((off + 1))" -- "$d/log"
  exit 0
  ;;
wait)
  d=$root/$1 limit=$2
  [ -e "$d/cmd" ] || exit 3
  end=$(($(now) + limit))
  while [ "$(state "$d")" = running ]; do
    if [ "$limit" -gt 0 ] && [ "$(now)" -ge "$end" ]; then
      info "$d"
      exit 124
    fi
    sleep 0.2
  done
  info "$d"
  ;;
killed)
  # After the kill: a job that had not ended gets 137, as a shell reports
  # a process killed by SIGKILL. $2 is 1 when the job was running as the
  # kill began: the kill's SIGTERM may have let the runner record a status
  # of its own on the way down, and the job is killed all the same.
  d=$root/$1
  [ -e "$d/cmd" ] || exit 3
  if [ "${2:-}" = 1 ] || [ "$(state "$d")" != exited ]; then
    : >"$d/killed"
    if [ "${2:-}" = 1 ] || [ ! -e "$d/exit" ]; then
      printf '137\n' >"$d/exit.new" && mv -f "$d/exit.new" "$d/exit"
    fi
    [ -e "$d/ended" ] || now >"$d/ended"
  fi
  info "$d"
  ;;
*)
  printf 'unknown verb %s\n' "$verb" >&2
  exit 2
  ;;
esac
