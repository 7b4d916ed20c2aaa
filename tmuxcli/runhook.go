package tmuxcli

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// hookScript is the PROMPT_COMMAND every session tmux new makes gets: with
// it, run types only the command (see runHookArgs).
//
// It goes into every pane's environment, so its comments stay out. They
// are dropped when it is first used, not as the package starts, which every
// call of every command would pay.
var hookScript = sync.OnceValue(func() string { return dropComments(hookSource) })

//go:embed scripts/hook.bash
var hookSource string

// dropComments removes the lines of script that hold only a comment.
func dropComments(script string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(script, "\n") {
		if !strings.HasPrefix(strings.TrimLeft(l, " "), "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// The conditions of runHookArgs' three steps, in tmux's formats:
// hookCond, a live pane whose foreground process is a bash that runs the
// hook and sits at its prompt; scriptCond, a live pane at another shell (or
// at a bash without the hook) that sits at its prompt, where nothing was
// typed yet; untypedCond, nothing was typed.
const (
	hookCond    = "#{&&:#{!=:#{pane_dead},1},#{&&:#{==:#{@db_prompt},1},#{&&:#{==:#{@db_hook},1},#{m/r:^-?bash$,#{pane_current_command}}}}}"
	scriptCond  = "#{&&:#{==:#{@db_typed},},#{&&:#{==:#{@db_prompt},1},#{&&:#{!=:#{pane_dead},1},#{m/r:" + shellPattern + ",#{pane_current_command}}}}}"
	untypedCond = "#{==:#{@db_typed},}"
)

// notAtPrompt is the shell test (run by /bin/sh, after tmux expands its
// formats) that tells a shell away from its prompt, though tmux names a
// shell as the pane's foreground command: whatever is typed then goes to
// what reads the terminal instead of the line editor, such as bash's read
// builtin, which would take the command as its answer. It looks at the
// leader of the terminal's foreground process group, in /proc:
//
//   - asleep in a plain read of the terminal where the pane's bash has its
//     line editor (@db_hook): readline waits for a key in select, so this
//     is a read builtin or a script's read;
//   - asleep waiting for a child, and not the pane's own shell: a shell
//     that ran a program without exec (sh -c 'python3 -i'). The pane's own
//     shell waits so for a moment while its prompt runs, and is let be.
//
// Anything it cannot read counts as at the prompt, as before the test: a
// kernel that hides wchan, or no /proc.
const notAtPrompt = `h=#{@db_hook} p=#{pane_pid}; { read -r _ _ _ _ _ _ _ g _ </proc/$p/stat; } 2>/dev/null || exit 1; ` +
	`case $g in ''|*[!0-9]*) exit 1;; esac; w=; { read -r w </proc/$g/wchan; } 2>/dev/null; ` +
	`case $w in n_tty_read|wait_woken) [ "$h" = 1 ];; do_wait) [ "$g" != "$p" ];; *) exit 1;; esac`

// promptArgs set the pane's @db_prompt to 1, or to 0 where notAtPrompt
// says the shell is away from its prompt: the conditions read it.
func promptArgs(target string) []string {
	return []string{
		"set-option", "-p", "-t", target, "@db_prompt", "1", ";",
		"if-shell", "-t", target, notAtPrompt, "set-option -p -t " + target + " @db_prompt 0", ";",
	}
}

// hookMark starts the line with what the run left in the pane's options.
const hookMark = "dockerbridge-run:"

// maxScriptArg bounds the run script runHookArgs passes as an argument (the
// kernel takes at most 128 KiB in one); a longer command goes through
// runArgs, on stdin.
const maxScriptArg = 96 << 10

// runHookArgs is the one invocation that runs a command, piped to stdin,
// at a shell, typing only the command where the shell has the hook:
//
//   - where it has (hookCond), the run's channel goes into the pane's
//     @db_run, clearKeys empty the line, then the command is pasted as it
//     is, and claimKeys and Enter
//     pressed: the claim key takes the channel into the line being edited,
//     and the hook signals it at the prompt after that line, with the exit
//     status in @db_rc (see scripts/hook.bash);
//   - at another shell (scriptCond), script (markerScript's, in buffer id2) is
//     typed instead, as runArgs does;
//   - otherwise (untypedCond) nothing is typed, and busyMarker's line says
//     why.
//
// @db_typed says which happened. Then, as in runArgs: the pane-died hook,
// the wait on the channel, the pane's options, state and capture.
func runHookArgs(target, id, id2, script string, scrollback int) []string {
	typeHook := fmt.Sprintf("set-option -p -t %s @db_typed hook ; set-option -p -t %s @db_run %s ; delete-buffer -b %s ; send-keys -t %s %s ; paste-buffer -p -d -b %s -t %s ; send-keys -t %s %s Enter",
		target, target, id, id2, target, clearKeys, id, target, target, claimKeys)
	typeScript := fmt.Sprintf("set-option -p -t %s @db_typed script ; delete-buffer -b %s ; paste-buffer -p -d -b %s -t %s ; send-keys -t %s Enter",
		target, id, id2, target, target)
	busy := fmt.Sprintf("display-message -p -t %s '%s #{pane_dead} #{@db_prompt} #{pane_current_command}' ; delete-buffer -b %s ; delete-buffer -b %s ; wait-for -S %s",
		target, busyMarker, id, id2, id)
	a := []string{
		"set-hook", "-p", "-t", target, "pane-died", "wait-for -S " + id, ";",
		"set-option", "-p", "-u", "-t", target, "@db_typed", ";",
		"set-option", "-p", "-u", "-t", target, "@db_exit", ";",
		"load-buffer", "-b", id, "-", ";",
		"set-buffer", "-b", id2, arg(script), ";",
	}
	a = append(a, promptArgs(target)...)
	a = append(a,
		"if-shell", "-F", "-t", target, hookCond, typeHook, ";",
		"if-shell", "-F", "-t", target, scriptCond, typeScript, ";",
		"if-shell", "-F", "-t", target, untypedCond, busy, ";",
		"wait-for", id, ";",
		"set-hook", "-p", "-u", "-t", target, "pane-died", ";",
		"display-message", "-p", "-t", target, hookMark+"#{@db_typed}\t#{@db_rc}\t#{@db_exit}\t#{@db_ps1}", ";",
	)
	return append(a, ScreenArgs(target, CaptureOptions{Lines: scrollback})...)
}

// hookable reports whether command can be typed as it is at a shell with
// the hook. A blank command has no line to claim; a last line ending in a
// backslash would leave the claim and Enter to a continuation line. Both
// get the marker script, as does a command that is not typable: the script
// spells its control characters out.
func hookable(command string) bool {
	return strings.TrimSpace(command) != "" && !strings.HasSuffix(command, `\`) && typable(command)
}

// clearKeys is the key the hook binds to empty the line being edited
// (scripts/hook.bash), pressed before the command is pasted: C-x C-^.
const clearKeys = "C-x C-^"

// claimKeys is the key the hook binds to its claim (scripts/hook.bash), as
// send-keys names it: C-x C-], which no readline binding uses.
const claimKeys = "C-x C-]"

// hookResult is what the run left: which way the command was typed ("hook"
// or "script"), and from the hook the exit status (-1 unless the hook
// reported this run's channel), whether the command ended the shell, and
// the prompt's last line.
type hookResult struct {
	Typed  string
	Code   int
	Exited bool
	Prompt string
}

// parseHookLine reads the hookMark line off the front of out; id is the
// run's channel.
func parseHookLine(out, id string) (hookResult, string, bool) {
	line, rest, _ := strings.Cut(out, "\n")
	v, ok := strings.CutPrefix(line, hookMark)
	if !ok {
		return hookResult{}, out, false
	}
	f := strings.SplitN(v, "\t", 4)
	for len(f) < 4 {
		f = append(f, "")
	}
	r := hookResult{Typed: f[0], Code: -1, Exited: f[2] == "1", Prompt: f[3]}
	if ch, code, _ := strings.Cut(f[1], " "); ch == id {
		if n, err := strconv.Atoi(code); err == nil {
			r.Code = n
		}
	}
	return r, rest, true
}

// parseTyped finds a typed command's output in the captured lines: what
// follows the line where the command was typed (the prompt, then its first
// line; its other lines after it). The hook signals before the shell draws
// its next prompt, so the capture may or may not end with it: a last line
// that ends with the prompt is the prompt, and what precedes the prompt on
// it is output that had no final line break. prompt is the prompt's last
// line, "" when unknown. found is false when the typed line is not in the
// lines.
//
// open says the cursor is not at the start of a line: where the capture
// does not end with the prompt, the output had no final line break.
func parseTyped(lines []string, prompt, command string, open bool) (output string, found bool) {
	lines = TrimBlank(lines)
	cmd := strings.Split(strings.TrimRight(command, "\n"), "\n")
	first := strings.TrimRight(cmd[0], " ")
	p := strings.TrimRight(prompt, " ")
	typed := func(l string) bool {
		l = strings.TrimRight(l, " ")
		if p == "" {
			return strings.HasSuffix(l, first)
		}
		// A prompt after output with no final line break shares its line.
		return strings.HasSuffix(l, p+" "+first) || strings.HasSuffix(l, p+first)
	}
	start := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if typed(lines[i]) {
			start = i
			break
		}
	}
	if start < 0 && first != "" {
		// Typed after output with no final line break, the line editor
		// can redraw the line over itself; the command is still in it.
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], first) {
				start = i
				break
			}
		}
	}
	if start < 0 {
		return "", false
	}
	out := lines[min(start+len(cmd), len(lines)):]
	tail := ""
	if n := len(out); n > 0 {
		last := strings.TrimRight(out[n-1], " ")
		switch {
		case p != "" && strings.HasSuffix(last, p):
			out, tail = out[:n-1], strings.TrimSuffix(last, p)
		case open:
			out, tail = out[:n-1], out[n-1]
		}
	}
	// Output that had no final line break is given as it is.
	return Text(out) + tail, true
}
