# shellcheck shell=sh
# The line tmux run types into the pane's shell (markerScript in args.go): any
# POSIX shell, bash, dash or zsh, may read it. markerScript drops the comments,
# joins the lines with "; " into one, and puts in the channel id for @ID@,
# the command (one quoted word) for @COMMAND@, the shell command that
# signals the channel for @SIGNAL@, and run-exit.bash, made one line the
# same way and quoted, for @ON_EXIT@.
# shellcheck disable=SC3045 # trap -p: where the shell lacks it, it fails quietly
printf '%s-%s\n' DBS @ID@
__db_t=$(trap -p EXIT 2>/dev/null)
trap @ON_EXIT@ EXIT
command eval @COMMAND@
__db_rc=$?
case ${BASH_VERSION-}$(trap -p EXIT 2>/dev/null) in '' | *'DBE @ID@'*) eval "${__db_t:-trap - EXIT}";; esac
printf '\n%s-%s %s\n' DBE @ID@ "$__db_rc"
@SIGNAL@
