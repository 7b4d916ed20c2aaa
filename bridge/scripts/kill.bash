# shellcheck shell=bash
# Ends every process of a call (killScript in call.go): those whose
# environment carries DOCKERBRIDGE_EXEC_ID=$1 (when $1 is given), and those
# descending from the wrapper's pid $2 (when given). Always exits 0.
id=$1 root=$2
[ -n "$id" ] && id="DOCKERBRIDGE_EXEC_ID=$id"
declare -A parent hit
scan() {
  local p pid st e q n new=0
  parent=()
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    { read -r st <"$p/stat"; } 2>/dev/null || continue
    st=${st##*) }
    st=${st#* }
    parent[$pid]=${st%% *}
  done
  for pid in "${!parent[@]}"; do
    [ "$pid" = "$$" ] && continue
    [ -n "${hit[$pid]:-}" ] && continue
    q=$pid n=0
    while [ -n "$root" ] && [ -n "$q" ] && [ "$q" != 0 ] && [ $n -lt 100 ]; do
      if [ "$q" = "$root" ]; then hit[$pid]=1; break; fi
      q=${parent[$q]:-}; n=$((n+1))
    done
    if [ -z "${hit[$pid]:-}" ] && [ -n "$id" ]; then
      { while IFS= read -r -d '' e; do
        [ "$e" = "$id" ] && { hit[$pid]=1; break; }
      done <"/proc/$pid/environ"; } 2>/dev/null
    fi
    if [ -n "${hit[$pid]:-}" ]; then kill -s "$sig" "$pid" 2>/dev/null; new=1; fi
  done
  return $((1-new))
}
# alive: whether a process hit so far has not ended (a zombie has).
alive() {
  local pid st
  for pid in "${!hit[@]}"; do
    { read -r st <"/proc/$pid/stat"; } 2>/dev/null || continue
    st=${st##*) }
    [ "${st%% *}" != Z ] && return 0
  done
  return 1
}
sig=TERM
if scan; then
  for ((i = 0; i < 20; i++)); do
    sleep 0.1 2>/dev/null
    alive || break
  done
  hit=()
fi
sig=STOP
for _ in 1 2 3 4 5; do scan || break; done
for pid in "${!hit[@]}"; do kill -s KILL "$pid" 2>/dev/null; done
exit 0
