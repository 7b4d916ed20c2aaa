# shellcheck shell=bash
# shellcheck disable=SC2154 # idx, snap, tf and excl are set by git.bash
# commit: commits every change; $1 is the message, the rest trailers.
repo 1
who
bulk add -A -- . "${excl[@]}" || exit 95
if g rev-parse -q --verify 'HEAD^{commit}' >/dev/null; then
  g diff-index --cached --quiet HEAD -- && { echo committed=0; exit 0; }
else
  [ -n "$(g ls-files | head -n 1)" ] || { echo committed=0; exit 0; }
fi
msg=$1
shift
tr=()
for t in "$@"; do tr+=(--trailer "$t"); done
g commit -q -m "$msg" "${tr[@]}" || exit 95
printf 'committed=1\nsha=%s\nshortstat=%s\n' "$(g rev-parse HEAD)" "$(g diff-tree -r --root --no-commit-id --shortstat HEAD)"
