# shellcheck shell=sh
# The EXIT trap of the line tmux run types (run.bash): a command that ends
# the shell still prints the end marker and its status, then "exit", and
# signals the channel. Made one line as run.bash is.
__db_rc=$?
printf '\n%s-%s %s exit\n' DBE @ID@ "$__db_rc"
@SIGNAL@
