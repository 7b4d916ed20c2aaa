# shellcheck shell=bash
# The PROMPT_COMMAND of every session tmux new makes: bash runs it before
# each prompt, so a command that tmux run typed needs nothing typed around
# it. It tells the tmux server that this pane's shell has the hook
# (@db_hook) and what its prompt looks like (@db_ps1, its last line); when a
# run is pending (@db_run, the run's channel) it leaves the command's exit
# status in @db_rc and signals the channel. An EXIT trap, set once and only
# where the shell has none, does the same for a command that ends the shell
# (tmux does not always reap a dead pane at once, so its pane-died hook can
# come late). It saves the history first: a shell whose session is killed
# runs it too, and could otherwise lose its history while the server goes
# away.
# Every name starts with __db_, nothing is echoed, and $? is kept for the
# prompt.
__db_rc=$?
if [ -n "${TMUX_PANE-}" ]; then
  if [ -z "${__db_trap-}" ]; then
    __db_trap=1
    # shellcheck disable=SC2016 # expanded when the trap runs
    [ -n "$(trap -p EXIT)" ] || trap '__db_rc=$?; history -a 2>/dev/null; __db_ch=$(tmux display-message -p -t "$TMUX_PANE" "#{@db_run}" 2>/dev/null); [ -z "$__db_ch" ] || (tmux set-option -p -t "$TMUX_PANE" @db_rc "$__db_rc" \; set-option -p -t "$TMUX_PANE" @db_exit 1 \; wait-for -S "$__db_ch" >/dev/null 2>&1 &)' EXIT
  fi
  __db_p=${PS1@P}
  __db_p=${__db_p##*$'\n'}
  __db_ch=$(tmux display-message -p -t "$TMUX_PANE" '#{@db_run}' \; set-option -p -t "$TMUX_PANE" @db_hook 1 \; set-option -p -t "$TMUX_PANE" @db_ps1 "$__db_p" 2>/dev/null)
  if [ -n "$__db_ch" ]; then
    # In the background of a subshell, as RunScript's signal: were this
    # client the shell's foreground job, a run that follows at once could
    # find it there instead of the shell, and refuse to type.
    (tmux set-option -p -u -t "$TMUX_PANE" @db_run \; set-option -p -t "$TMUX_PANE" @db_rc "$__db_rc" \; wait-for -S "$__db_ch" >/dev/null 2>&1 &)
  fi
fi
(exit "$__db_rc")
