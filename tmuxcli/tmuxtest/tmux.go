package tmuxtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

// Main is the fake tmux as a program, for testscript's RunMain. It keeps
// its state, and writes its logs, in $FAKETMUX_DIR, else in $WORK.
func Main() int {
	dir := cmp.Or(os.Getenv("FAKETMUX_DIR"), os.Getenv("WORK"))
	if dir == "" {
		fmt.Fprintln(os.Stderr, "faketmux: neither FAKETMUX_DIR nor WORK is set")
		return 1
	}
	return run(context.Background(), dir, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Server is the fake tmux in process: a dockercli.Runner that answers argv
// whose program is tmux, keeping its state and logs in Dir.
type Server struct{ Dir string }

// Run implements dockercli.Runner.
func (s Server) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	if len(c.Args) == 0 || filepath.Base(c.Args[0]) != "tmux" {
		return -1, fmt.Errorf("tmuxtest: argv %q: want tmux first", c.Args)
	}
	stdin := c.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := run(ctx, s.Dir, c.Args[1:], stdin, orDiscard(c.Stdout), orDiscard(c.Stderr))
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("tmux: %w", err)
	}
	return code, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

type session struct {
	Name    string   `json:"name"`
	Pane    string   `json:"pane"`
	Cmd     string   `json:"cmd"`
	History string   `json:"history"`
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	Env     []string `json:"env"`
	Dead    bool     `json:"dead"`
	Status  int      `json:"status"`
	// Exiting: the shell's EXIT trap has run; the pane dies at the end of
	// the next call.
	Exiting bool     `json:"exiting"`
	Screen  []string `json:"screen"`
}

type state struct {
	Sessions []*session        `json:"sessions"`
	NextPane int               `json:"next_pane"`
	Options  map[string]string `json:"options"`
	Woken    map[string]bool   `json:"woken"`
	Buffers  map[string]string `json:"buffers"`
	// PendingRun is the channel of a pasted run script that waits for its
	// Enter.
	PendingRun string `json:"pending_run"`
	// Exiting: the last session is gone and the server is shutting down.
	Exiting bool `json:"exiting"`
}

type tmuxError struct{ msg string }

func (e *tmuxError) Error() string { return e.msg }

type proc struct {
	ctx    context.Context
	dir    string
	socket string
	st     *state
	lock   *os.File
	// existed: a server was up when this call came in.
	existed bool
	stdin   io.Reader
	stdout  io.Writer
}

func run(ctx context.Context, dir string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	p := &proc{ctx: ctx, dir: dir, socket: "default", stdin: stdin, stdout: stdout}
	p.appendFile("tmux.log", quote(args)+"\n")
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-u":
			args = args[1:]
		case "-f", "-L":
			if len(args) < 2 {
				fmt.Fprintf(stderr, "usage: tmux [-u] [-f file] [-L socket] command\n")
				return 1
			}
			if args[0] == "-L" {
				p.socket = args[1]
			}
			args = args[2:]
		default:
			fmt.Fprintf(stderr, "faketmux: global flag %s is not emulated\n", args[0])
			return 1
		}
	}
	cmds := split(args)
	if err := p.slow(); err != nil {
		fmt.Fprintf(stderr, "faketmux: %v\n", err)
		return 1
	}
	if err := p.load(); err != nil {
		fmt.Fprintf(stderr, "faketmux: %v\n", err)
		return 1
	}
	defer p.unlock()
	starts := slices.ContainsFunc(cmds, func(c []string) bool { return len(c) > 0 && c[0] == "new-session" })
	if p.st.Exiting {
		if !starts {
			// Reached the dying server: it has no session to act on.
			_ = os.Remove(p.statePath())
			fmt.Fprintln(stderr, "no current target")
			return 1
		}
		// Too late for the old server: this client starts a new one.
		p.st, p.existed = p.fresh(), false
	}
	if len(p.st.Sessions) == 0 && !starts {
		fmt.Fprintf(stderr, "no server running on /tmp/tmux-%d/%s\n", os.Getuid(), p.socket)
		return 1
	}
	dying := p.dying()
	for _, c := range cmds {
		if err := p.exec(c); err != nil {
			p.die(dying)
			p.save()
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	p.die(dying)
	p.save()
	return 0
}

// slow holds the call for the duration in the file slow, before it takes
// the lock: a server that answers late, as on a loaded machine, so that a
// scenario can make a wait's deadline come before the first answer.
func (p *proc) slow() error {
	b, err := os.ReadFile(p.path("slow"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("slow: %w", err)
	}
	select {
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// dying lists the sessions whose shell exited before this call: they die
// at its end. Those whose shell exits during it live through the next.
func (p *proc) dying() []string {
	var names []string
	for _, s := range p.st.Sessions {
		if s.Exiting && !s.Dead {
			names = append(names, s.Name)
		}
	}
	return names
}

func (p *proc) die(names []string) {
	for _, s := range p.st.Sessions {
		if slices.Contains(names, s.Name) && !s.Dead {
			s.Dead = true
			s.Screen = append(s.Screen, "Pane is dead (status "+strconv.Itoa(s.Status)+")")
		}
	}
}

// split splits argv into commands the way tmux 3.3's
// cmd_parse_from_arguments does.
func split(args []string) [][]string {
	var cmds [][]string
	var cur []string
	for _, a := range args {
		if strings.HasSuffix(a, ";") {
			a = a[:len(a)-1]
			if strings.HasSuffix(a, `\`) {
				cur = append(cur, a[:len(a)-1]+";")
				continue
			}
			if a != "" {
				cur = append(cur, a)
			}
			cmds = append(cmds, cur)
			cur = nil
			continue
		}
		cur = append(cur, a)
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds
}

// quote is the log form of an argv, as fakedocker's: each element %q.
func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

func (p *proc) path(name string) string { return filepath.Join(p.dir, name) }

func (p *proc) appendFile(name, text string) {
	f, err := os.OpenFile(p.path(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(text)
}

func (p *proc) statePath() string {
	return p.path(filepath.Join(".tmuxfake", p.socket+".json"))
}

// load takes the state under an exclusive lock, as the server serialises
// its clients.
func (p *proc) load() error {
	if err := os.MkdirAll(p.path(".tmuxfake"), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p.path(".tmuxfake/lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	p.lock = f
	p.st = p.fresh()
	b, err := os.ReadFile(p.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	p.existed = true
	return json.Unmarshal(b, p.st)
}

func (p *proc) fresh() *state {
	return &state{Options: map[string]string{}, Woken: map[string]bool{}, Buffers: map[string]string{}}
}

func (p *proc) save() {
	if len(p.st.Sessions) == 0 {
		if !p.existed {
			_ = os.Remove(p.statePath())
			return
		}
		// exit-empty: the server goes with its last session, but is still
		// there for the next client.
		p.st = p.fresh()
		p.st.Exiting = true
	}
	// A client killed mid-write (a run's timeout) must not leave half a
	// state: write aside, then rename.
	b, _ := json.MarshalIndent(p.st, "", "  ")
	tmp := p.statePath() + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, p.statePath())
	}
}

func (p *proc) unlock() {
	if p.lock != nil {
		p.lock.Close()
		p.lock = nil
	}
}

// flags takes tmux-style flags off args: those in withValue take one value.
func flags(args []string, withValue string) (map[string][]string, []string, error) {
	f := map[string][]string{}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return f, args[1:], nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			c := string(a[i])
			if !strings.Contains(withValue, c) {
				f[c] = append(f[c], "")
				continue
			}
			v := a[i+1:]
			if v == "" {
				if len(args) == 0 {
					return nil, nil, &tmuxError{"command requires an argument -- " + c}
				}
				v, args = args[0], args[1:]
			}
			f[c] = append(f[c], v)
			break
		}
	}
	return f, args, nil
}

func last(f map[string][]string, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// targeted takes a command's flags off args, as flags does, and finds the
// session its -t names.
func (p *proc) targeted(args []string, withValue string) (map[string][]string, []string, *session, error) {
	f, rest, err := flags(args, withValue)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := p.find(last(f, "t"))
	return f, rest, s, err
}

func (p *proc) find(target string) (*session, error) {
	for _, s := range p.st.Sessions {
		if target == s.Pane || target == "="+s.Name || target == "="+s.Name+":" {
			return s, nil
		}
	}
	if strings.HasPrefix(target, "%") {
		return nil, &tmuxError{"can't find pane: " + target}
	}
	name := strings.TrimSuffix(strings.TrimPrefix(target, "="), ":")
	return nil, &tmuxError{"can't find session: " + name}
}

// screen is a session's screen: $DIR/screen-NAME when the scenario gives
// one, else the fake's own. The cursor sits after its last non-blank line,
// or where $DIR/cursor-NAME ("X Y") puts it.
func (p *proc) screen(s *session) []string {
	if b, err := os.ReadFile(p.path("screen-" + s.Name)); err == nil {
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	return s.Screen
}

func (p *proc) command(s *session) string {
	if b, err := os.ReadFile(p.path("command-" + s.Name)); err == nil {
		return strings.TrimSpace(string(b))
	}
	if f := strings.Fields(s.Cmd); len(f) > 0 {
		return filepath.Base(f[0])
	}
	return "bash"
}

func (p *proc) vars(s *session) map[string]string {
	lines := tmuxcli.TrimBlank(p.screen(s))
	x, y := 0, 0
	if n := len(lines); n > 0 {
		y, x = n-1, utf8.RuneCountInString(lines[n-1])
	}
	if b, err := os.ReadFile(p.path("cursor-" + s.Name)); err == nil {
		_, _ = fmt.Sscan(string(b), &x, &y)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(s.Pane, "%"))
	v := map[string]string{
		"session_name":         s.Name,
		"pane_id":              s.Pane,
		"pane_pid":             strconv.Itoa(4000 + n),
		"pane_dead":            "0",
		"pane_dead_status":     "",
		"pane_width":           strconv.Itoa(s.Width),
		"pane_height":          strconv.Itoa(s.Height),
		"cursor_x":             strconv.Itoa(x),
		"cursor_y":             strconv.Itoa(y),
		"history_size":         "0",
		"history_limit":        s.History,
		"alternate_on":         "0",
		"pane_current_command": p.command(s),
	}
	if s.Dead {
		v["pane_dead"], v["pane_dead_status"] = "1", strconv.Itoa(s.Status)
	}
	// User options (@name), kept for the whole server here, not per pane.
	for k, o := range p.st.Options {
		if strings.HasPrefix(k, "@") {
			v[k] = o
		}
	}
	return v
}

var varRE = regexp.MustCompile(`#\{(@?[a-z_]+)\}`)

func (p *proc) expand(s *session, format string) string {
	v := p.vars(s)
	return varRE.ReplaceAllStringFunc(format, func(m string) string { return v[m[2:len(m)-1]] })
}

func (p *proc) exec(c []string) error {
	if len(c) == 0 {
		return nil
	}
	verb, args := c[0], c[1:]
	switch verb {
	case "set-option":
		f, rest, err := flags(args, "t")
		if err != nil {
			return err
		}
		if t := last(f, "t"); t != "" {
			if _, err := p.find(t); err != nil {
				return err
			}
		}
		if _, ok := f["u"]; ok && len(rest) == 1 {
			delete(p.st.Options, rest[0])
		}
		if len(rest) == 2 {
			p.st.Options[rest[0]] = rest[1]
		}
		return nil
	case "set-buffer":
		f, rest, err := flags(args, "b")
		if err != nil || len(rest) != 1 {
			return &tmuxError{"usage: set-buffer -b name data"}
		}
		p.st.Buffers[last(f, "b")] = rest[0]
		return nil
	case "set-hook":
		_, _, _, err := p.targeted(args, "t")
		return err
	case "new-session":
		return p.newSession(args)
	case "send-keys":
		return p.sendKeys(args)
	case "load-buffer":
		f, rest, err := flags(args, "bt")
		if err != nil {
			return err
		}
		if len(rest) != 1 || rest[0] != "-" {
			return &tmuxError{"faketmux: load-buffer only from stdin is emulated"}
		}
		b, err := io.ReadAll(p.stdin)
		if err != nil {
			return err
		}
		p.st.Buffers[last(f, "b")] = string(b)
		return nil
	case "paste-buffer":
		f, _, s, err := p.targeted(args, "bst")
		if err != nil {
			return err
		}
		name := last(f, "b")
		text, ok := p.st.Buffers[name]
		if !ok {
			return &tmuxError{"no buffer " + name}
		}
		if _, ok := f["d"]; ok {
			delete(p.st.Buffers, name)
		}
		p.appendFile("typed.log", "<paste>"+text+"</paste>\n")
		if m := runRE.FindStringSubmatch(text); m != nil {
			p.st.PendingRun = m[1]
		}
		_ = s
		return nil
	case "delete-buffer":
		f, _, err := flags(args, "b")
		if err != nil {
			return err
		}
		delete(p.st.Buffers, last(f, "b"))
		return nil
	case "if-shell":
		f, rest, s, err := p.targeted(args, "t")
		if err != nil {
			return err
		}
		if len(rest) < 2 {
			return &tmuxError{"faketmux: if-shell needs a condition and a command"}
		}
		// The conditions dockerbridge uses: "#{pane_dead}", and run's,
		// alive and at a shell.
		ok := !s.Dead && tmuxcli.IsShell(p.command(s))
		if rest[0] == "#{pane_dead}" {
			ok = s.Dead
		}
		_, format := f["F"]
		switch {
		case !format:
			// run's shell test that the pane's shell is away from its
			// prompt: away-NAME says so.
			_, err := os.Stat(p.path("away-" + s.Name))
			ok = err == nil
		case strings.Contains(rest[0], "@db_hook"):
			// The fake's shells run no PROMPT_COMMAND: run types its
			// script.
			ok = false
		case strings.HasPrefix(rest[0], "#{&&:#{==:#{@db_typed},},"):
			ok = ok && p.st.Options["@db_typed"] == "" && p.st.Options["@db_prompt"] == "1"
		case strings.Contains(rest[0], "@db_prompt"):
			ok = ok && p.st.Options["@db_prompt"] == "1"
		case rest[0] == "#{==:#{@db_typed},}":
			ok = p.st.Options["@db_typed"] == ""
		}
		branch := rest[1]
		if !ok {
			branch = ""
			if len(rest) > 2 {
				branch = rest[2]
			}
		}
		cmds, err := parse(branch)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := p.exec(c); err != nil {
				return err
			}
		}
		return nil
	case "wait-for":
		f, rest, err := flags(args, "")
		if err != nil || len(rest) != 1 {
			return &tmuxError{"usage: wait-for [-L|-S|-U] channel"}
		}
		if _, ok := f["S"]; ok {
			p.st.Woken[rest[0]] = true
			return nil
		}
		return p.waitFor(rest[0])
	case "display-message":
		_, rest, s, err := p.targeted(args, "t")
		if err != nil {
			return err
		}
		fmt.Fprintln(p.stdout, p.expand(s, strings.Join(rest, " ")))
		return nil
	case "capture-pane":
		_, _, s, err := p.targeted(args, "tSE")
		if err != nil {
			return err
		}
		// Real tmux prints every row; two blank ones stand for the rest.
		for _, l := range append(p.screen(s), "", "") {
			fmt.Fprintln(p.stdout, l)
		}
		return nil
	case "list-panes":
		f, _, err := flags(args, "Ft")
		if err != nil {
			return err
		}
		for _, s := range p.st.Sessions {
			fmt.Fprintln(p.stdout, p.expand(s, last(f, "F")))
		}
		return nil
	case "kill-session":
		_, _, s, err := p.targeted(args, "t")
		if err != nil {
			return err
		}
		p.st.Sessions = slices.DeleteFunc(p.st.Sessions, func(x *session) bool { return x == s })
		p.appendFile("events.log", "kill "+s.Name+"\n")
		return nil
	case "run-shell":
		// Only "run-shell true", which reaps exited children.
		return nil
	case "pipe-pane":
		// Recorded, not run: a scenario puts the transcript in place.
		_, rest, s, err := p.targeted(args, "t")
		if err != nil {
			return err
		}
		p.appendFile("events.log", fmt.Sprintf("pipe %s %d bytes of command\n", s.Name, len(strings.Join(rest, " "))))
		return nil
	case "kill-server":
		p.st.Sessions = nil
		return nil
	}
	return &tmuxError{"faketmux: " + verb + " is not emulated"}
}

func (p *proc) newSession(args []string) error {
	f, rest, err := flags(args, "FsxyecnX")
	if err != nil {
		return err
	}
	name := last(f, "s")
	for _, s := range p.st.Sessions {
		if s.Name == name {
			return &tmuxError{"duplicate session: " + name}
		}
	}
	w, _ := strconv.Atoi(last(f, "x"))
	h, _ := strconv.Atoi(last(f, "y"))
	hist := p.st.Options["history-limit"]
	if hist == "" {
		hist = "2000"
	}
	screen := []string{"$ "}
	if b, err := os.ReadFile(p.path("screen")); err == nil {
		screen = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	s := &session{Name: name, Pane: "%" + strconv.Itoa(p.st.NextPane), Cmd: strings.Join(rest, " "),
		History: hist, Width: w, Height: h, Env: f["e"], Screen: screen}
	p.st.NextPane++
	p.st.Sessions = append(p.st.Sessions, s)
	p.appendFile("events.log", fmt.Sprintf("new %s history-limit=%s remain-on-exit=%s size=%dx%d env=%q cmd=%q\n",
		name, hist, p.st.Options["remain-on-exit"], w, h, s.Env, s.Cmd))
	if _, ok := f["P"]; ok {
		fmt.Fprintln(p.stdout, p.expand(s, last(f, "F")))
	}
	return nil
}

func (p *proc) sendKeys(args []string) error {
	f, rest, s, err := p.targeted(args, "tN")
	if err != nil {
		return err
	}
	repeat := 1
	if n := last(f, "N"); n != "" {
		repeat, _ = strconv.Atoi(n)
	}
	// typed.log gets one line per call.
	var typed strings.Builder
	for range repeat {
		for _, k := range rest {
			if _, ok := f["l"]; ok {
				typed.WriteString(k)
				continue
			}
			typed.WriteString("<" + k + ">")
			if (k == "Enter" || k == "C-m") && p.st.PendingRun != "" {
				p.runPending(s)
			}
		}
	}
	p.appendFile("typed.log", typed.String()+"\n")
	return nil
}

// runRE finds the channel of a run script.
var runRE = regexp.MustCompile(`DBE (db-[0-9a-f]+) "\$__db_rc"; .* wait-for -S (db-[0-9a-f]+)( &\))?$`)

// runPending plays the shell running a pasted run script: the output of
// $DIR/run.out and the exit code of $DIR/run.rc (default 0) between the
// markers, then the signal. With $DIR/run.hang the command never ends;
// with $DIR/run.exit the shell exits with that status and the pane-died
// hook signals instead.
func (p *proc) runPending(s *session) {
	ch := p.st.PendingRun
	p.st.PendingRun = ""
	out, _ := os.ReadFile(p.path("run.out"))
	rc := "0"
	if b, err := os.ReadFile(p.path("run.rc")); err == nil {
		rc = strings.TrimSpace(string(b))
	}
	text := "DBS-" + ch + "\n" + string(out)
	p.appendFile("events.log", "run "+ch+"\n")
	switch {
	case p.exists("run.hang"):
		s.Screen = append(s.Screen, strings.Split(text, "\n")...)
		return
	case s.Exiting:
		// Typed into a shell on its way out: nothing runs, and the
		// pane-died hook ends the wait.
		s.Dead = true
		s.Screen = append(s.Screen, "Pane is dead (status "+strconv.Itoa(s.Status)+")")
	case p.exists("run.exit"):
		b, _ := os.ReadFile(p.path("run.exit"))
		s.Exiting = true
		s.Status, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		// The script's EXIT trap reports before the shell goes.
		s.Screen = append(s.Screen, strings.Split(text+"\nDBE-"+ch+" "+strconv.Itoa(s.Status)+" exit", "\n")...)
	default:
		s.Screen = append(s.Screen, strings.Split(text+"\nDBE-"+ch+" "+rc+"\n$ ", "\n")...)
	}
	p.st.Woken[ch] = true
}

func (p *proc) exists(name string) bool {
	_, err := os.Stat(p.path(name))
	return err == nil
}

// waitFor blocks until the channel is signalled, as a tmux client does,
// with the state unlocked meanwhile; a signal sent before the wait counts
// once.
func (p *proc) waitFor(ch string) error {
	for {
		if p.st.Woken[ch] {
			delete(p.st.Woken, ch)
			return nil
		}
		p.save()
		p.unlock()
		select {
		case <-p.ctx.Done():
			// The client is gone: it leaves the state as it finds it.
			if err := p.load(); err != nil {
				return err
			}
			return p.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if err := p.load(); err != nil {
			return err
		}
	}
}

// parse splits a tmux command string (if-shell's) into commands: words
// separated by spaces, single quotes kept together, " ; " between commands.
func parse(s string) ([][]string, error) {
	var cmds [][]string
	var cur []string
	var word strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			if w := word.String(); w == ";" {
				cmds = append(cmds, cur)
				cur = nil
			} else {
				cur = append(cur, w)
			}
		}
		word.Reset()
		inWord = false
	}
	for _, r := range s {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			word.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			flush()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, &tmuxError{"faketmux: unterminated quote in " + s}
	}
	flush()
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds, nil
}
