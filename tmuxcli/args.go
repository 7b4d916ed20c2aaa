package tmuxcli

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The functions in this file build tmux argv and parse tmux output. They are
// pure: nothing here starts a process, and the one script they use is
// embedded.

// Target addresses a pane exactly: a %pane id as it is, a session name as
// "=NAME:" (that session's active pane). The "=" turns off tmux's prefix and
// pattern matching, so "web" never reaches "web2".
func Target(name string) string {
	if paneRE().MatchString(name) {
		return name
	}
	return "=" + name + ":"
}

// sessionTarget addresses a session exactly: "=NAME", or the session that
// holds a %pane.
func sessionTarget(name string) string {
	if paneRE().MatchString(name) {
		return name
	}
	return "=" + name
}

// arg protects one argument from tmux's command-line parser, which ends a
// command at an argument ending in ';' and drops that ';'. tmux turns a
// trailing "\;" back into ";", so that is what is sent.
func arg(s string) string {
	if strings.HasSuffix(s, ";") {
		return s[:len(s)-1] + `\;`
	}
	return s
}

// NewOptions describe a session to create.
type NewOptions struct {
	Name    string
	Command string // run by tmux through sh -c; "" is tmux's default shell
	Width   int
	Height  int
	History int      // history-limit of the new pane
	Env     []string // KEY=VALUE for the pane
	// Transcript, when set, records everything the pane prints in this
	// file from its first byte (pipe-pane in the same invocation), rotated
	// at TranscriptMax bytes (zero: DefaultTranscriptMax).
	Transcript    string
	TranscriptMax int64
}

// Defaults for NewOptions' zero values.
const (
	DefaultWidth   = 200
	DefaultHeight  = 50
	DefaultHistory = 50000
)

// NewArgs creates a session in one invocation that prints the pane id.
// history-limit is read when a pane is created, so it is set first, in the
// same invocation; remain-on-exit keeps a dead pane so that ls can report
// how its program ended; the status line is off so the pane gets the full
// height.
func NewArgs(o NewOptions) []string {
	w, h, hist := o.Width, o.Height, o.History
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	if hist <= 0 {
		hist = DefaultHistory
	}
	a := []string{
		"set-option", "-g", "history-limit", strconv.Itoa(hist), ";",
		"set-option", "-g", "remain-on-exit", "on", ";",
		"set-option", "-g", "status", "off", ";",
		"new-session", "-d", "-P", "-F", "#{pane_id}", "-s", o.Name, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h),
	}
	// The hook first, so that a caller's own PROMPT_COMMAND wins.
	a = append(a, "-e", arg("PROMPT_COMMAND="+hookScript()))
	for _, e := range o.Env {
		a = append(a, "-e", arg(e))
	}
	if o.Command != "" {
		a = append(a, "--", arg(o.Command))
	}
	if o.Transcript != "" {
		m := o.TranscriptMax
		if m <= 0 {
			m = DefaultTranscriptMax
		}
		a = append(append(a, ";"), pipeArgs(Target(o.Name), o.Transcript, m)...)
	}
	return a
}

// pasteThreshold is the longest text sent with send-keys; longer text, and
// any text with a line break, goes through a paste buffer.
const pasteThreshold = 2048

// NeedsPaste reports whether text goes through load-buffer and paste-buffer
// rather than send-keys -l: each line break would act as Enter, and a long
// argv is slow and bounded.
func NeedsPaste(text string) bool {
	return len(text) > pasteThreshold || strings.ContainsAny(text, "\r\n")
}

// LiteralArgs types text as it is: -l makes a key name such as "Enter" plain
// text, "--" lets a text start with '-', and arg keeps a trailing ';'.
func LiteralArgs(target, text string) []string {
	return []string{"send-keys", "-t", target, "-l", "--", arg(text)}
}

// pasteArgs loads stdin into a buffer of its own and pastes it, deleting the
// buffer. -p wraps the text in bracketed-paste markers when the program asked
// for them, so a shell or editor takes it as one paste, not as typing.
func pasteArgs(target, buffer string) []string {
	return []string{
		"load-buffer", "-b", buffer, "-", ";",
		"paste-buffer", "-p", "-d", "-b", buffer, "-t", target,
	}
}

// enterArgs presses Enter.
func enterArgs(target string) []string { return KeysArgs(target, 0, "Enter") }

// KeysArgs sends named keys (C-c, Escape, Up, Enter...), each as its own
// argument; repeat > 1 sends them that many times.
func KeysArgs(target string, repeat int, keys ...string) []string {
	a := []string{"send-keys", "-t", target}
	if repeat > 1 {
		a = append(a, "-N", strconv.Itoa(repeat))
	}
	a = append(a, "--")
	for _, k := range keys {
		a = append(a, arg(k))
	}
	return a
}

// killArgs kills a session.
func killArgs(name string) []string {
	return []string{"kill-session", "-t", sessionTarget(name)}
}

// listFormat is one line per pane; the command goes last because it is the
// one field that may hold anything.
const listFormat = "#{session_name}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_width}x#{pane_height}\t#{pane_current_command}"

// reapArgs make the server collect exited pane processes first. tmux 3.3 at
// times misses a pane's SIGCHLD: the pane shows as dead, with no exit status
// and no pane-died hook, until another child of the server exits. A
// run-shell job is such a child, and a synchronous one has been reaped by
// the time the next command runs.
var reapArgs = []string{"run-shell", "true", ";"}

// listArgs lists every pane of the server, exit statuses collected.
func listArgs() []string {
	return append(append([]string{}, reapArgs...), "list-panes", "-a", "-F", listFormat)
}

// Pane is one row of ls.
type Pane struct {
	Name       string `json:"name"`
	PaneID     string `json:"pane_id"`
	PID        int    `json:"pid"`
	Dead       bool   `json:"dead"`
	ExitStatus *int   `json:"exit_status"` // nil while the program runs
	Size       string `json:"size"`
	Command    string `json:"command"`
}

// parseList reads listArgs' output.
func parseList(out string) ([]Pane, error) {
	panes := []Pane{}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 7)
		if len(f) != 7 {
			return nil, fmt.Errorf("list-panes: unreadable line %q", line)
		}
		p := Pane{Name: f[0], PaneID: f[1], Dead: f[3] == "1", Size: f[5], Command: f[6]}
		p.PID, _ = strconv.Atoi(f[2])
		if n, err := strconv.Atoi(f[4]); err == nil && p.Dead {
			p.ExitStatus = &n
		}
		panes = append(panes, p)
	}
	return panes, nil
}

// CaptureOptions choose what capture-pane prints.
type CaptureOptions struct {
	// Lines > 0 starts that many lines above the visible screen; All takes
	// the whole history. Neither: the visible screen.
	Lines int
	All   bool
	// ANSI keeps colours and attributes as escape sequences (-e).
	ANSI bool
	// Rows keeps screen rows as they are instead of joining wrapped lines
	// (-J), so that row n of the output is row n of the screen.
	Rows bool
	// Trailing keeps the trailing spaces of rows (-N), as a program wrote
	// them: a prompt's "> " keeps its space.
	Trailing bool
}

// captureArgs captures a pane as text. -J joins wrapped lines and keeps
// trailing spaces, so a prompt such as ">>> " keeps its space.
func captureArgs(target string, o CaptureOptions) []string {
	a := []string{"capture-pane", "-p", "-t", target}
	if !o.Rows {
		a = append(a, "-J")
	}
	if o.ANSI {
		a = append(a, "-e")
	}
	switch {
	case o.All:
		a = append(a, "-S", "-", "-E", "-")
	case o.Lines > 0:
		a = append(a, "-S", "-"+strconv.Itoa(o.Lines))
	}
	if o.Trailing {
		a = append(a, "-N")
	}
	return a
}

// screenFormat is the pane state a wait needs, on the first line before the
// capture. The command goes last because it is the one field that may hold
// anything.
const screenFormat = "#{cursor_x}\t#{cursor_y}\t#{history_size}\t#{pane_width}\t#{pane_height}\t#{alternate_on}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_id}\t#{pane_current_command}"

// ScreenArgs asks for the pane's state and its capture in one invocation:
// a poll costs one process (one docker exec in a container), never two. A
// dead pane gets its exit status collected first (see reapArgs); a live one
// costs nothing more.
func ScreenArgs(target string, o CaptureOptions) []string {
	a := []string{
		"if-shell", "-F", "-t", target, "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", target, screenFormat, ";",
	}
	return append(a, captureArgs(target, o)...)
}

// Screen is a pane's state and text at one moment.
type Screen struct {
	CursorX, CursorY int
	HistorySize      int
	Width, Height    int
	Alternate        bool
	Dead             bool
	DeadStatus       int
	// StatusKnown is false while tmux has seen the pane's end but not yet
	// reaped its process: DeadStatus is then not the program's status.
	StatusKnown bool
	PaneID      string
	Command     string // the foreground process of the pane
	// Lines are the captured lines, as tmux printed them.
	Lines []string
}

// ParseScreen reads ScreenArgs' output.
func ParseScreen(out string) (Screen, error) {
	head, rest, _ := strings.Cut(out, "\n")
	f := strings.SplitN(head, "\t", 10)
	if len(f) != 10 {
		return Screen{}, fmt.Errorf("display-message: unreadable pane state %q", head)
	}
	n := make([]int, 5)
	for i := range n {
		v, err := strconv.Atoi(f[i])
		if err != nil {
			return Screen{}, fmt.Errorf("display-message: unreadable pane state %q", head)
		}
		n[i] = v
	}
	s := Screen{
		CursorX: n[0], CursorY: n[1], HistorySize: n[2], Width: n[3], Height: n[4],
		Alternate: f[5] == "1", Dead: f[6] == "1", PaneID: f[8], Command: f[9],
	}
	s.DeadStatus, _ = strconv.Atoi(f[7])
	s.StatusKnown = f[7] != ""
	s.Lines = splitLines(rest)
	return s, nil
}

// splitLines splits capture-pane output, which ends every line with "\n".
func splitLines(out string) []string {
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// TrimBlank drops trailing lines that hold only spaces: the unused rows below
// the cursor.
func TrimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimRight(lines[len(lines)-1], " ") == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Text joins lines back into the pane's text, one "\n" after each line.
func Text(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// shellPattern matches the foreground command of a pane that sits at a shell
// (tmux shows a login shell as "-bash").
const shellPattern = `^-?(bash|sh|dash|zsh|ksh|mksh|ash|yash|posh|busybox)$`

// busyMarker starts the line run prints when the pane is not at a shell.
const busyMarker = "dockerbridge-busy:"

// startMarker and endMarker frame a run's output on the screen. The shell
// prints them with printf '%s-%s', so the echo of the typed command line
// never contains them.
func startMarker(id string) string { return "DBS-" + id }
func endMarker(id string) string   { return "DBE-" + id + " " }

// runArgs is the one invocation that runs a command already piped to stdin
// (see markerScript) and waits for it:
//
//   - a pane-died hook signals the channel too, so a command that ends the
//     shell (exit, set -e) ends the wait instead of running into the timeout;
//   - the script is loaded into a buffer of its own;
//   - if-shell -F pastes it and presses Enter only when the pane is alive and
//     its foreground process is a shell at its prompt (promptArgs); otherwise it prints busyMarker and
//     signals the channel itself, so nothing is typed into a busy program;
//   - wait-for blocks on the command's own channel: completion is a signal,
//     never a poll of the screen;
//   - then the pane's state and its last lines come back in the same call.
//
// Only ids and targets go into the if-shell command strings; the user's text
// travels through the buffer, never through tmux's parser.
func runArgs(target, id string, scrollback int) []string {
	cond := "#{&&:#{!=:#{pane_dead},1},#{&&:#{==:#{@db_prompt},1},#{m/r:" + shellPattern + ",#{pane_current_command}}}}"
	paste := fmt.Sprintf("paste-buffer -p -d -b %s -t %s ; send-keys -t %s Enter", id, target, target)
	busy := fmt.Sprintf("display-message -p -t %s '%s #{pane_dead} #{@db_prompt} #{pane_current_command}' ; delete-buffer -b %s ; wait-for -S %s",
		target, busyMarker, id, id)
	a := []string{
		"set-hook", "-p", "-t", target, "pane-died", "wait-for -S " + id, ";",
		"load-buffer", "-b", id, "-", ";",
	}
	a = append(a, promptArgs(target)...)
	a = append(a,
		"if-shell", "-F", "-t", target, cond, paste, busy, ";",
		"wait-for", id, ";",
		"set-hook", "-p", "-u", "-t", target, "pane-died", ";",
	)
	return append(a, ScreenArgs(target, CaptureOptions{Lines: scrollback})...)
}

// markerScript is the shell line that runs command and then signals channel id.
// The command goes through eval of one single-quoted word, so that
//
//   - a heredoc, a comment on the last line, a trailing ';' or an unclosed
//     quote stay inside the eval and cannot swallow what follows; "command"
//     keeps a syntax or set -u error in it from aborting the line in a POSIX
//     shell such as dash, so the signal still comes;
//   - the whole line is read before anything runs, so the echo of the
//     typed text comes before the start marker, whatever the line editor;
//   - under set -u nothing unset is referenced.
//
// The exit code is printed after the end marker; signal is the shell command
// that wakes the waiting client. A command that ends the shell (exit, set -e)
// never reaches that line, so an EXIT trap does the same, with "exit" after
// the code: tmux's own pane-died hook is not enough, as tmux 3.3 at times
// does not reap a pane's process until another child exits. The trap is set
// only around the command: bash's earlier EXIT trap comes back afterwards,
// unless the command set one of its own. A leading space keeps the line out
// of bash's history where HISTCONTROL has ignorespace.
func markerScript(command, id, signal string) string {
	onExit := strings.NewReplacer("@ID@", id, "@SIGNAL@", signal).Replace(runExitLine())
	return " " + strings.NewReplacer(
		"@ID@", id, "@SIGNAL@", signal, "@COMMAND@", typedQuote(command), "@ON_EXIT@", ShellQuote(onExit),
	).Replace(runLine())
}

// The line markerScript types and its EXIT trap, kept in scripts/run.bash and
// scripts/run-exit.bash; oneLine makes each the one line a shell reads.
var (
	//go:embed scripts/run.bash
	runScript string
	//go:embed scripts/run-exit.bash
	runExitScript string

	runLine     = sync.OnceValue(func() string { return oneLine(runScript) })
	runExitLine = sync.OnceValue(func() string { return oneLine(runExitScript) })
)

// oneLine joins the lines of script, but for comments, with "; ".
func oneLine(script string) string {
	var cmds []string
	for _, l := range strings.Split(script, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, l)
		}
	}
	return strings.Join(cmds, "; ")
}

// signalCommand is the shell command a pane runs to signal channel id on the
// server at socket. It runs in the background of a subshell: were the tmux
// client the shell's foreground job, a run that follows at once could still
// find it there, instead of the shell, and refuse to type.
func signalCommand(bin, socket, id string) string {
	if bin == "" {
		bin = "tmux"
	}
	return "(" + ShellQuote(bin) + " -L " + ShellQuote(socket) + " wait-for -S " + id + " &)"
}

// typable reports whether s can go through a terminal as it is. Any other
// control character acts on the way, even inside a paste: C-c, C-z and C-\
// are the terminal's signals, and ESC [201~ ends a bracketed paste, after
// which the rest is taken as keys.
func typable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return false
		}
	}
	return true
}

// typedQuote is ShellQuote for a word that is typed into a terminal: one
// that is not typable is spelled with printf's octal escapes, which any
// POSIX shell expands back, so that only printable text is typed.
func typedQuote(s string) string {
	if typable(s) {
		return ShellQuote(s)
	}
	var b strings.Builder
	b.WriteString(`"$(printf '%b' '`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\'':
			b.WriteString(`'\''`)
		case !typable(s[i : i+1]):
			fmt.Fprintf(&b, `\0%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString(`')"`)
	return b.String()
}

// ShellQuote quotes s as one POSIX shell word.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runParse is what the captured lines say about a run.
type runParse struct {
	Output string
	Code   int  // -1 until the end marker is seen
	Start  bool // the start marker is in the lines (not scrolled away)
	End    bool // the end marker is in the lines
	Exited bool // the command ended the shell: the EXIT trap's marker
}

// parseRun finds a run's output and exit code in the captured lines: the
// text between the last start marker and the end marker after it. The end
// marker's printf starts with "\n", which ends a last line that had none;
// that one added line break is taken off again.
func parseRun(lines []string, id string) runParse {
	start, end := -1, -1
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] == startMarker(id) {
			start = i
			break
		}
	}
	for i := start + 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], endMarker(id)) {
			end = i
			break
		}
	}
	p := runParse{Code: -1, Start: start >= 0, End: end >= 0}
	if end < 0 {
		p.Output = Text(TrimBlank(lines[start+1:]))
		return p
	}
	f := strings.Fields(strings.TrimPrefix(lines[end], endMarker(id)))
	if len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			p.Code = n
		}
	}
	p.Exited = len(f) > 1 && f[1] == "exit"
	if body := lines[start+1 : end]; len(body) > 0 {
		p.Output = strings.Join(body, "\n")
	}
	return p
}
