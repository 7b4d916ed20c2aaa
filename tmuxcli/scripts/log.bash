# shellcheck shell=bash
# tmux log (transcriptRead in transcript.go): prints the transcript $1, the
# rotated part first. Exits 3 when the session has no transcript.
[ -e "$1" ] || exit 3
cat -- "$1.1" 2>/dev/null
cat -- "$1"
