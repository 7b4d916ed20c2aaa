# shellcheck shell=bash
# shellcheck disable=SC2154 # idx, snap, tf and excl are set by git.bash
# snapshot diff: the working tree against snapshot $1. The temporary index
# holds the working tree, so the cached diff against the snapshot is the
# diff to the working tree, untracked files included.
repo 0
s=$(resolve "$1") || exit 96
stage
also "$s"
d=(g diff --cached --no-ext-diff --no-textconv --no-color)
printf 'sha=%s\nshortstat=%s\n\n' "$s" "$(GIT_INDEX_FILE=$idx "${d[@]}" --shortstat "$s" --)"
GIT_INDEX_FILE=$idx "${d[@]}" --stat --patch "$s" --
