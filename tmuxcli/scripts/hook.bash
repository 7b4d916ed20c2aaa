# shellcheck shell=bash
# The PROMPT_COMMAND of every session tmux new makes: with it, a command
# that tmux run types needs nothing typed around it.
#
# A run leaves its channel in the pane's @db_run, pastes the command, then
# presses the claim key (claimKeys in runhook.go) and Enter. The claim key runs
# __db_claim inside the line editor, on the line that Enter then submits:
# it takes the channel from @db_run into the shell. The prompt after that
# line signals the claimed channel, with "CHANNEL STATUS" in @db_rc. A
# prompt of anything else (the first prompt, a command already running or a
# line already waiting when the run typed) has claimed nothing and signals
# nothing, so a run is never reported done before its command ran, and a
# line with no command in it (a comment, a syntax error) is reported too.
#
# The hook also tells the server that this pane's shell has it (@db_hook,
# only where the key could be bound: bash with its line editor) and what
# its prompt looks like (@db_ps1, its last line). An EXIT trap, set once
# and only where the shell has none, reports a claimed command that ends
# the shell, with @db_exit (tmux does not always reap a dead pane at once,
# so its pane-died hook can come late); it saves the history first: a
# shell whose session is killed runs it too, and could otherwise lose its
# history while the server goes away.
# Every name starts with __db_, nothing is echoed, and $? is kept for the
# prompt.
__db_rc=$?
if [ -n "${TMUX_PANE-}" ]; then
  if [ -z "${__db_trap-}" ]; then
    __db_trap=1
    # shellcheck disable=SC2016 # expanded when the trap runs
    [ -n "$(trap -p EXIT)" ] || trap '__db_rc=$?; history -a 2>/dev/null; [ -z "${__db_ch-}" ] || (tmux set-option -p -t "$TMUX_PANE" @db_rc "$__db_ch $__db_rc" \; set-option -p -t "$TMUX_PANE" @db_exit 1 \; wait-for -S "$__db_ch" >/dev/null 2>&1 &)' EXIT
    # A killed session hangs the shell up twice (tmux's SIGHUP, then the
    # terminal's): a second one while bash saves its history ends it with
    # the history unwritten. The first is taken here, the rest ignored.
    [ -n "$(trap -p HUP)" ] || trap 'trap "" HUP; exit 129' HUP
  fi
  if [ -z "${__db_bound-}" ]; then
    # The hook as the session got it, for the claim to put back in front of
    # a PROMPT_COMMAND set anew since: no prompt would report a run else.
    case ${PROMPT_COMMAND-} in '__db_rc=$?'*) __db_src=$PROMPT_COMMAND ;; esac
    __db_claim() {
      __db_ch=$(tmux display-message -p -t "$TMUX_PANE" '#{@db_run}' \; set-option -p -u -t "$TMUX_PANE" @db_run 2>/dev/null)
      case ${PROMPT_COMMAND-} in
        *"${__db_src-}"*) ;;
        *) PROMPT_COMMAND=$__db_src${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND} ;;
      esac
    }
    # The clear key empties the line before the command is pasted: text
    # left on it (typed without Enter) would run glued to the command.
    __db_clear() {
      READLINE_LINE=
      READLINE_POINT=0
    }
    bind -m emacs -x '"\C-x\C-]": __db_claim' 2>/dev/null &&
      bind -m vi-insert -x '"\C-x\C-]": __db_claim' 2>/dev/null &&
      bind -m emacs -x '"\C-x\C-^": __db_clear' 2>/dev/null &&
      bind -m vi-insert -x '"\C-x\C-^": __db_clear' 2>/dev/null &&
      __db_bound=1
  fi
  __db_p=${PS1@P}
  __db_p=${__db_p##*$'\n'}
  if [ -n "${__db_ch-}" ]; then
    # In the background of a subshell, as markerScript's signal: were this
    # client the shell's foreground job, a run that follows at once could
    # find it there instead of the shell, and refuse to type.
    (tmux set-option -p -t "$TMUX_PANE" @db_rc "$__db_ch $__db_rc" \; set-option -p -t "$TMUX_PANE" @db_ps1 "$__db_p" \; wait-for -S "$__db_ch" >/dev/null 2>&1 &)
    __db_ch=
  elif [ -n "${__db_bound-}" ] && [ "${__db_said-}" != "$__db_p" ]; then
    # In a command substitution, which stays in the shell's process group:
    # a foreground tmux client would make the pane look busy to a run.
    __db_x=$(tmux set-option -p -t "$TMUX_PANE" @db_hook 1 \; set-option -p -t "$TMUX_PANE" @db_ps1 "$__db_p" 2>/dev/null)
    __db_said=$__db_p
  fi
fi
(exit "$__db_rc")
