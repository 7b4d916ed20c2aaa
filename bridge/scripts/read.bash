# shellcheck shell=bash
# read: prints the file $2.
[ "$2" = /workspace ] && exit 95
d=${2%/*}
enter "${d:-/}"
open3 "${2##*/}"
exec cat <&3
