# shellcheck shell=bash
# The watcher (watchScript in watch.go): runs the screen command in "$@"
# every $1 seconds, each screen followed by a record separator line,
# until its stdin ends. A failing tmux call ends it with tmux's status.
iv=$1
shift
while :; do
	"$@" || exit
	printf '\036\n'
	read -r -t "$iv" _
	[ $? -gt 128 ] || exit 0
done
