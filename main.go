// Command dockerbridge gives each project a lazily started Docker container
// with the project's directory at /workspace, and works inside it as the
// project's own user. This file is the CLI: one struct per command, each
// with a Run method, and the wiring between them and package bridge.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"dockerbridge/bridge"
	"dockerbridge/bridge/egress"
	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"

	"github.com/alecthomas/kong"
)

// version is set by -ldflags "-X main.version=..." for a release; otherwise
// the build information says which version or commit this is.
var version = "dev"

func buildVersion() string {
	if version != "dev" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return versionFrom(info)
}

// versionFrom is the module's version when it was built as a dependency or
// with go install module@version, else the commit it was built from, its
// date, and whether the tree had changes.
func versionFrom(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev (no version or commit recorded in this build)"
	}
	v := rev[:min(12, len(rev))] + dirty
	if at != "" {
		v += " (" + at + ")"
	}
	return v
}

func main() { os.Exit(Main()) }

// Globals are the flags every command takes. The defaults of those that
// shape a new container are bridge's own, spelled out in their tags rather
// than taken through kong.Vars: kong interpolates every variable into every
// flag as it starts, on every call. TestGlobalDefaultsAreBridges holds the
// tags to bridge's values.
type Globals struct {
	// Listed first, so that their group comes right after a command's own
	// flags in its help.
	Path      string   `group:"new" placeholder:"DIR" help:"Host directory mounted at /workspace (default: the project user's home); it must exist."`
	Image     string   `group:"new" default:"luzia-sandbox:latest" env:"DOCKERBRIDGE_IMAGE" help:"Image for a new container."`
	Mount     []string `group:"new" sep:"none" placeholder:"SRC:DST[:ro]" help:"Extra mount for a new container (repeatable); a relative SRC is made absolute."`
	Env       []string `group:"new" sep:"none" placeholder:"K=V" help:"Extra environment for a new container (repeatable); exec, tmux new and task also give it to what they run."`
	Memory    string   `group:"new" default:"2g" help:"Memory limit of a new container."`
	CPUs      string   `group:"new" name:"cpus" default:"2" help:"CPU limit of a new container."`
	Network   string   `group:"new" default:"host" help:"Network of a new container."`
	Restart   string   `group:"new" default:"unless-stopped" help:"Restart policy of a new container."`
	NoInit    bool     `group:"new" help:"Run a new container without --init (docker stop then waits its full grace)."`
	Harden    bool     `group:"new" env:"DOCKERBRIDGE_HARDEN" help:"Run a new container hardened: no capabilities, no-new-privileges, at most 512 processes, a read-only root with a tmpfs /tmp."`
	NoNetwork bool     `group:"new" help:"Run a new container with no network (--network none)."`
	Recreate  bool     `group:"new" help:"Remove the container first when it was made with other settings than this call's, so that they apply."`

	Egress        []string `group:"new" sep:"none" env:"DOCKERBRIDGE_EGRESS" placeholder:"allow=HOST[:PORT],..." help:"Let a new container reach only these hosts (*.DOMAIN for subdomains; ports 80 and 443 unless given), through a proxy of its own; repeatable."`
	EgressImage   string   `group:"new" env:"DOCKERBRIDGE_EGRESS_IMAGE" placeholder:"IMG" help:"Image of the egress proxy, with dockerbridge as its entrypoint (default: one made with docker import from a static Linux build of dockerbridge)."`
	EgressBinary  string   `group:"new" env:"DOCKERBRIDGE_EGRESS_BINARY" placeholder:"FILE" help:"Static Linux build of dockerbridge for the egress proxy's image, for the engine's architecture (default: this program when it is one)."`
	EgressNetwork string   `group:"new" placeholder:"NET" help:"Network through which the egress proxy reaches the outside (default: bridge)."`
	EgressHost    []string `group:"new" sep:"none" placeholder:"NAME:IP" help:"Map a name for the egress proxy, as docker run --add-host; repeatable."`

	Project         string        `group:"global" short:"p" env:"DOCKERBRIDGE_PROJECT" placeholder:"NAME" help:"Project name; its container is <prefix><project>."`
	Timeout         timeoutFlag   `group:"global" placeholder:"DUR" help:"How long a command may run before it is killed in the container (default: ${timeout}; the tmux waits and task have their own)."`
	JSON            bool          `group:"global" help:"Print JSON with the keys of the Python bridge."`
	Verbose         bool          `group:"global" short:"v" help:"Print each docker call on stderr."`
	Docker          string        `group:"global" default:"docker" env:"DOCKERBRIDGE_DOCKER" placeholder:"BIN" help:"Docker-compatible CLI to run (docker, podman, a path; default: ${default})."`
	Context         string        `group:"global" placeholder:"CTX" help:"Docker context to use (default: the CLI's own, or DOCKER_HOST)."`
	Engines         []string      `group:"global" sep:"," env:"DOCKERBRIDGE_ENGINES" placeholder:"CTX,..." help:"Docker contexts of the engines to spread projects over: each project goes where there is most room and stays there; ps, reap and status --all ask them all."`
	Engine          string        `group:"global" placeholder:"CTX" help:"The engine (a docker context) for this call, asked nothing else."`
	EngineTimeout   time.Duration `group:"global" default:"10s" placeholder:"DUR" help:"How long each engine may take to answer a call that asks every engine."`
	StateDir        string        `group:"global" env:"DOCKERBRIDGE_STATE_DIR" placeholder:"DIR" help:"Where activity and locks live (default: $XDG_STATE_HOME/dockerbridge or ~/.local/state/dockerbridge)."`
	ContainerPrefix string        `group:"global" default:"luzia-" placeholder:"PREFIX" help:"Container name prefix (default: ${default})."`
	AllowOutside    bool          `group:"global" help:"Let file commands reach paths outside /workspace."`

	Version kong.VersionFlag `group:"global" help:"Print the version."`
}

// vars are the defaults the flags show and take, from their one source.
func vars() kong.Vars {
	return kong.Vars{
		"timeout": fmt.Sprintf("%ds", int(bridge.DefaultTimeout.Seconds())),
		"idle":    strings.TrimSuffix(bridge.DefaultIdle.String(), "0s"),
		"socket":  tmuxcli.DefaultSocket,
		"size":    fmt.Sprintf("%dx%d", tmuxcli.DefaultWidth, tmuxcli.DefaultHeight),
		"history": strconv.Itoa(tmuxcli.DefaultHistory), "logmax": strconv.Itoa(tmuxcli.DefaultTranscriptMax),
		"interval": tmuxcli.DefaultInterval.String(), "promptlines": strconv.Itoa(tmuxcli.DefaultPromptHistory),
		"screenidle": tmuxcli.DefaultIdle.String(),
		"session":    bridge.DefaultTaskSession, "taskidle": bridge.DefaultTaskIdle.String(),
		"version": buildVersion(),
	}
}

// Validate refuses global flags that parse but mean nothing.
func (g *Globals) Validate() error {
	if err := checkEngines(g); err != nil {
		return err
	}
	if err := envFlag("--env", g.Env); err != nil {
		return err
	}
	for _, m := range g.Mount {
		src, rest, _ := strings.Cut(m, ":")
		dst, _, _ := strings.Cut(rest, ":")
		if src == "" || dst == "" {
			return fmt.Errorf("--mount %q: want SRC:DST[:ro], both given", m)
		}
	}
	if g.ContainerPrefix == "" {
		// An empty prefix would make every labelled container the tool's
		// own, to reap among others: reap --any-prefix says so on purpose.
		return errors.New("--container-prefix must not be empty (reap --any-prefix reaches other prefixes)")
	}
	return nil
}

// envFlag checks a flag's KEY=VALUE settings.
func envFlag(flag string, env []string) error {
	var bad *bridge.EnvError
	if errors.As(bridge.ValidateEnv(env), &bad) {
		return fmt.Errorf("invalid %s %q: %s", flag, bad.Setting, bridge.EnvRule)
	}
	return nil
}

// timeoutFlag is --timeout. Zero, the flag not given, means each command's
// own default; a zero or negative value given is refused as it is parsed.
type timeoutFlag time.Duration

func (t *timeoutFlag) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("duration", &s); err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return fmt.Errorf("expected duration but got %q: %w", s, err)
	case d <= 0:
		return fmt.Errorf("want a positive duration, such as 30s or 5m, not %s", d)
	case d < time.Millisecond:
		return fmt.Errorf("want at least 1ms, not %s", d)
	}
	*t = timeoutFlag(d)
	return nil
}

// or is the --timeout given, else def: the command's own default.
func (t timeoutFlag) or(def time.Duration) time.Duration {
	if t > 0 {
		return time.Duration(t)
	}
	return def
}

// CLI is the command tree.
type CLI struct {
	Globals

	Start  StartCmd  `cmd:"" help:"Start the project's container if it is not running."`
	Exec   ExecCmd   `cmd:"" help:"Run a command with bash -c in the container."`
	Write  WriteCmd  `cmd:"" help:"Write stdin (or --from FILE) to a file, atomically, as the project user."`
	Read   ReadCmd   `cmd:"" help:"Print a file."`
	Ls     LsCmd     `cmd:"" help:"List files under a path whose names match a glob (first 100)."`
	Grep   GrepCmd   `cmd:"" help:"Search files with grep -rn (first 50 matches)."`
	Status StatusCmd `cmd:"" help:"Show whether the container runs, and since when."`
	Stop   StopCmd   `cmd:"" help:"Stop the container."`
	Rm     RmCmd     `cmd:"" help:"Stop and remove the container."`
	Ps     PsCmd     `cmd:"" help:"List every project container."`
	Reap   ReapCmd   `cmd:"" help:"Stop containers that have sat idle."`
	Cp     CpCmd     `cmd:"" help:"Copy files and directories between the host and /workspace: cp SRC :DST, cp :SRC DST."`
	Tmux   TmuxCmd   `cmd:"" help:"Drive interactive programs through tmux: new, send, keys, capture, wait-prompt, wait-idle, wait-shell, run, interrupt, kill, ls, state."`

	Snapshot SnapshotCmd `cmd:"" help:"Record the workspace in git without touching HEAD, the index or a file; list, diff and restore snapshots."`
	Commit   CommitCmd   `cmd:"" help:"Stage everything (add -A) and commit it as the project user."`
	Task     TaskCmd     `cmd:"" help:"Run an agent task: snapshot, start the agent in tmux, send the prompt, wait, commit."`
	Job      JobCmd      `cmd:"" help:"Run commands in the background in the container: start, ls, logs, wait, kill."`

	EgressCmd EgressCmd `cmd:"" name:"egress" help:"Show what the egress proxy of a container made with --egress refused."`
	Proxy     ProxyCmd  `cmd:"" hidden:"" help:"Run the egress proxy (what the proxy container runs)."`
}

// app carries what commands share: streams, flags, and the lazily built
// bridge. Commands get it, the context and what they need from the
// providers (*bridge.Bridge, *tmuxcli.Server, *dockercli.Client,
// *bridge.State) as arguments of Run.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	g      *Globals
	runner dockercli.Runner
	// timeout is --timeout, or the command's own default (see timeouter).
	timeout time.Duration
	// shapes is set for the commands that work in the container (and would
	// make it): they compare its settings with the call's.
	shapes bool
	// envPerCall is set for the commands that give --env to what they run,
	// so that a container made with another env is no reason to warn them.
	envPerCall bool
	b          *bridge.Bridge
}

// Marks a command struct may carry; run reads them from the selected one.
type (
	// control marks a command that only looks at, stops or removes
	// containers: it neither makes one nor compares its settings.
	control interface{ control() }
	// envGiver marks a command that gives --env to what it runs.
	envGiver interface{ givesEnv() }
	// timeouter is a command whose --timeout default is not exec's.
	timeouter interface{ defaultTimeout() time.Duration }
)

// exitCode lets a command end with a code of its own and no error line.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a mistake in how the tool was called: exit 2.
type usageError struct{ error }

// Main runs the CLI with the process's arguments and streams.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A write to a closed stdout then fails with EPIPE instead of killing
	// the process at once, so that the command in the container is killed
	// first (see pipeWatch).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// errBrokenPipe is the cause of a run whose reader closed stdout.
var errBrokenPipe = errors.New("stdout closed by its reader")

// pipeWatch cancels the run when its reader stops reading (head -n1): the
// call then ends as an interrupted one, killed in the container, and the
// tool exits 141, as a program killed by SIGPIPE does.
type pipeWatch struct {
	w      io.Writer
	cancel context.CancelCauseFunc
}

func (p *pipeWatch) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil && errors.Is(err, syscall.EPIPE) {
		p.cancel(errBrokenPipe)
	}
	return n, err
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stdout = &pipeWatch{w: stdout, cancel: cancel}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, runner: dockercli.OSRunner{}}
	exited := false
	g, kctx, err := parse(args, stdout, stderr, func(c int) { exited, code = true, c },
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(a),
		kong.BindToProvider(a.bridge),
		kong.BindToProvider(a.docker),
		kong.BindToProvider(a.state),
	)
	if exited {
		return code
	}
	if err != nil {
		// The parse failed, so --json may not be set yet: look for the
		// flag itself, so that a JSON caller still gets JSON.
		a.g = &Globals{JSON: slices.Contains(args[:max(0, indexOr(args, "--", len(args)))], "--json")}
		return a.finish(ctx, usageError{err})
	}
	a.g = g
	a.setup(kctx)
	return a.finish(ctx, kctx.Run())
}

// setup reads the selected command's marks: its --timeout default, and how
// it treats a container made with other settings.
func (a *app) setup(kctx *kong.Context) {
	cmd := kctx.Selected().Target.Addr().Interface()
	_, isControl := cmd.(control)
	_, a.envPerCall = cmd.(envGiver)
	a.shapes = !isControl
	a.timeout = a.g.Timeout.or(bridge.DefaultTimeout)
	if t, ok := cmd.(timeouter); ok {
		a.timeout = a.g.Timeout.or(t.defaultTimeout())
	}
	if a.g.Verbose {
		a.runner = dockercli.Trace{Next: a.runner, W: a.stderr}
	}
}

// kongOptions are the parser's options: its name, help layout and
// variables, and where it writes and how it exits.
func kongOptions(stdout, stderr io.Writer, exit func(int)) []kong.Option {
	return options(vars(), stdout, stderr, exit)
}

// options are kongOptions with the variables v.
func options(v kong.Vars, stdout, stderr io.Writer, exit func(int)) []kong.Option {
	return []kong.Option{
		kong.Name("dockerbridge"),
		kong.Description("Give each project a lazily started Docker container with its directory at /workspace, and work inside it as the project's own user."),
		v,
		kong.ExplicitGroups([]kong.Group{
			{Key: "new", Title: "Flags that shape a new container (an existing one keeps its own; see --recreate):"},
			{Key: "global", Title: "Global flags:"},
		}),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	}
}

// parse parses args into a new command tree and returns its global flags.
// stdout, stderr and exit are kong's, bind the bindings its Run gets.
//
// kong builds its model of the command line by reflection over every
// command and flag, and resets every flag of it before parsing: for the
// whole tree that is most of a call's own cost, which every call pays. A
// call names one command, so args are first parsed against a tree of that
// command and the global flags alone, which prints nothing itself. Its parse
// stands only when it selects a command, or prints the version; help, and
// whatever the small tree rejects, are parsed again against the whole tree,
// so that they read the same as ever.
func parse(args []string, stdout, stderr io.Writer, exit func(int), bind ...kong.Option) (*Globals, *kong.Context, error) {
	if typ := oneCommand(args); typ != nil {
		var out, errOut bytes.Buffer
		code := -1
		v := reflect.New(typ)
		opts := options(varsOf(typ), &out, &errOut, func(c int) { code = c })
		if p, err := kong.New(v.Interface(), append(opts, bind...)...); err == nil {
			kctx, err := p.Parse(args)
			g := v.Elem().Field(0).Addr().Interface().(*Globals)
			switch {
			case code < 0 && err == nil && kctx.Selected() != nil:
				return g, kctx, nil
			case code == 0 && kctx != nil && onPath(kctx, "version") && !onPath(kctx, "help"):
				_, _ = stdout.Write(out.Bytes())
				_, _ = stderr.Write(errOut.Bytes())
				exit(0)
				return g, kctx, err
			}
		}
	}
	return parseWhole(args, append(kongOptions(stdout, stderr, exit), bind...))
}

// onPath reports whether the flag was given.
func onPath(k *kong.Context, flag string) bool {
	for _, p := range k.Path {
		if p.Flag != nil && p.Flag.Name == flag {
			return true
		}
	}
	return false
}

// parseWhole parses args against the whole command tree.
func parseWhole(args []string, opts []kong.Option) (*Globals, *kong.Context, error) {
	var cli CLI
	p, err := kong.New(&cli, opts...)
	if err != nil {
		return &cli.Globals, nil, err
	}
	kctx, err := p.Parse(args)
	return &cli.Globals, kctx, err
}

// oneCommand is the type of a tree of the global flags (field 0) and the
// one command args name (none when they name none), or nil when the word
// in a command's place names none.
func oneCommand(args []string) reflect.Type {
	cli := reflect.TypeFor[CLI]()
	globals, ok := cli.FieldByName("Globals")
	if !ok || len(globals.Index) != 1 {
		return nil
	}
	fields := []reflect.StructField{{Name: globals.Name, Type: globals.Type, Tag: `embed:""`}}
	word := ""
	for i := 0; i < len(args) && args[i] != "--" && word == ""; i++ {
		switch a := args[i]; {
		case !strings.HasPrefix(a, "-"):
			word = a
		case takesValue(a):
			i++
		}
	}
	if word == "" {
		return reflect.StructOf(fields)
	}
	for i := range cli.NumField() {
		f := cli.Field(i)
		if _, ok := f.Tag.Lookup("cmd"); ok && slices.Contains(commandNames(f), word) {
			return reflect.StructOf(append(fields, f))
		}
	}
	return nil
}

// varsOf are the variables the tags of typ's fields name, and the version.
//
// kong interpolates every variable it has into every flag's help and
// default, each through a regular expression: with the variables of the
// whole tree, that was most of the small tree's parse. A variable missing
// here fails the small tree's kong.New, which then costs the whole tree,
// not a wrong parse.
func varsOf(typ reflect.Type) kong.Vars {
	all := vars()
	used := kong.Vars{"version": all["version"]}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			for rest := string(f.Tag); ; {
				_, after, ok := strings.Cut(rest, "${")
				if !ok {
					break
				}
				rest = after
				name := after[:strings.IndexFunc(after+"}", func(r rune) bool { return r == '}' || r == '=' })]
				if v, ok := all[name]; ok {
					used[name] = v
				}
			}
			walk(f.Type)
		}
	}
	walk(typ)
	return used
}

// commandNames are the names kong gives a command field: its own, and its
// aliases.
func commandNames(f reflect.StructField) []string {
	names := []string{kongName(f)}
	if aliases := f.Tag.Get("aliases"); aliases != "" {
		names = append(names, strings.Split(aliases, ",")...)
	}
	return names
}

// kongName is the name kong gives a flag or command field: its name tag,
// or its field name dashed.
func kongName(f reflect.StructField) string {
	if name := f.Tag.Get("name"); name != "" {
		return name
	}
	return dashed(f.Name)
}

// dashed is kong's flag and command name for a field: NoInit is no-init,
// JSON json.
func dashed(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) && unicode.IsLower(rune(s[i-1])) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// takesValue reports whether the global flag a, before the command, takes
// the next argument as its value. A wrong answer costs only time: the
// parse of the small tree then fails, and the whole tree's is used.
func takesValue(a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	long, isLong := strings.CutPrefix(a, "--")
	short := a[len(a)-1:] // in a run of short flags, the last takes the value
	globals := reflect.TypeFor[Globals]()
	for i := range globals.NumField() {
		f := globals.Field(i)
		if (isLong && long == kongName(f)) || (!isLong && len(a) > 1 && f.Tag.Get("short") == short) {
			return f.Type.Kind() != reflect.Bool
		}
	}
	return false
}

// finish reports err the way the caller asked and picks the exit code.
func (a *app) finish(ctx context.Context, err error) int {
	var code exitCode
	var usage usageError
	if errors.Is(context.Cause(ctx), errBrokenPipe) {
		// Nobody reads the output any more; the shell knows why.
		return 141
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) && !errors.Is(err, bridge.ErrInterrupted) {
		// SIGINT or SIGTERM ended a call under way: no "context canceled",
		// and the exit code of an interrupted exec.
		err = bridge.ErrInterrupted
	}
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		msg := message(usage.error, a.g.Docker)
		fmt.Fprintf(a.stderr, "dockerbridge: %s (see dockerbridge --help)\n", msg)
		_ = a.show(map[string]any{"success": false, "error": msg}, nil)
		return 2
	}
	msg := message(err, a.g.Docker)
	fmt.Fprintf(a.stderr, "dockerbridge: %s\n", msg)
	out := map[string]any{"success": false, "error": msg}
	if kind := bridge.ErrorKind(err); kind != "" {
		out["kind"] = kind // not_found, permission, is_directory, outside, too_large, ...
	}
	_ = a.show(out, nil)
	if errors.Is(err, bridge.ErrInterrupted) {
		return 130
	}
	if errors.Is(err, dockercli.ErrRestarting) {
		// Docker's state, not the command's failure: 125, as exec gives.
		return 125
	}
	if errors.Is(err, tmuxcli.ErrBusy) {
		// tmux run typed nothing: the pane was busy, away from its shell
		// prompt. A caller can wait and try again, so it is told apart
		// from a failure (sysexits' EX_TEMPFAIL).
		return 75
	}
	return 1
}

// message turns an error into one line a user can act on: the hints that
// name this CLI's flags and commands are written here, not in bridge.
func message(err error, bin string) string {
	switch {
	case errors.Is(err, dockercli.ErrNotFound):
		return fmt.Sprintf("cannot run %s: no such program (install it, or choose another CLI with --docker)", bin)
	case errors.Is(err, dockercli.ErrDaemon):
		return fmt.Sprintf("cannot reach the docker daemon: %v", err)
	case errors.Is(err, bridge.ErrNoProject):
		return "no project given: use --project NAME or set DOCKERBRIDGE_PROJECT"
	}
	var noHome *bridge.NoHomeError
	if errors.As(err, &noHome) {
		return fmt.Sprintf("project user %q not found and no --path given: pass --path DIR to choose the directory mounted at %s", noHome.Project, bridge.Workspace)
	}
	return longOnce(strings.ReplaceAll(err.Error(), "\n", " ")) + hint(err)
}

// hint says what to do about err with this CLI's flags and commands: bridge's
// errors carry the data (the path, the snapshot to go back to) and name
// none of them.
func hint(err error) string {
	var ws *bridge.WorkspaceError
	var restore *bridge.RestoreError
	switch {
	case errors.Is(err, bridge.ErrOutside):
		return " (use --allow-outside)"
	case errors.Is(err, bridge.ErrNotUTF8):
		return " (read it without --json for the raw bytes)"
	case errors.Is(err, bridge.ErrOutputCap):
		return " (raise it with --max-bytes, or read without --json)"
	case errors.Is(err, bridge.ErrNoSnapshot), errors.Is(err, bridge.ErrSnapshotID):
		return " (see: dockerbridge snapshot ls)"
	case errors.As(err, &restore):
		return fmt.Sprintf(" (the state before it is snapshot %d: dockerbridge snapshot restore %d)", restore.Undo, restore.Undo)
	case errors.As(err, &ws) && errors.Is(ws.Err, fs.ErrNotExist):
		return fmt.Sprintf(": create it (mkdir -p %s) or correct --path", ws.Path)
	}
	return ""
}

// longPart is a run of characters that can make up a path, long enough that
// saying it twice buries the message (a 4096-byte name). It is compiled on
// first use, as are the package-level patterns of bridge, tmuxcli and
// dockercli: its {200,} compiles into 200 copies, which every start of the
// tool would pay for an error it seldom prints.
var longPart = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[^\s'"]{200,}`)
})

// longOnce keeps the first mention of each long path in msg and shortens the
// later ones, where a tool's own error quotes again what the line began with.
func longOnce(msg string) string {
	seen := []string{}
	return longPart().ReplaceAllStringFunc(msg, func(part string) string {
		for _, p := range seen {
			if i := strings.Index(part, p); i >= 0 {
				return part[:i] + "..." + part[i+len(p):]
			}
		}
		seen = append(seen, strings.TrimRight(part, ":,;."))
		return part
	})
}

// show prints v as JSON under --json, else what human writes (nothing when
// it is nil): every command's output goes through here.
func (a *app) show(v any, human func(w io.Writer) error) error {
	if a.g.JSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v) // a closed stdout ends the run through pipeWatch
		return nil
	}
	if human == nil {
		return nil
	}
	return human(a.stdout)
}

// result shows a call's result, in its human form without --json, or
// returns the call's error.
func (a *app) result(v interface{ WriteText(io.Writer) error }, err error) error {
	if err != nil {
		return err
	}
	return a.show(v, v.WriteText)
}

// docker provides the docker client.
func (a *app) docker() *dockercli.Client {
	// Every docker call is bounded: by --timeout when it is shorter than
	// what a control call gets by default.
	return &dockercli.Client{Runner: a.runner, Bin: a.g.Docker, Context: a.g.Context,
		CallTimeout: min(a.g.Timeout.or(bridge.DefaultTimeout), dockercli.DefaultCallTimeout)}
}

// state provides the state directory.
func (a *app) state() (*bridge.State, error) {
	dir := a.g.StateDir
	if dir == "" {
		dir = bridge.DefaultStateDir()
	}
	return bridge.OpenState(dir)
}

// bridge provides the project's bridge, built once; it starts nothing.
func (a *app) bridge(ctx context.Context) (*bridge.Bridge, error) {
	if a.b != nil {
		return a.b, nil
	}
	g := a.g
	st, err := a.state()
	if err != nil {
		return nil, err
	}
	b, err := bridge.New(bridge.Harden(bridge.Config{
		Project:      g.Project,
		HostPath:     g.Path,
		Image:        g.Image,
		Prefix:       g.ContainerPrefix,
		Timeout:      time.Duration(g.Timeout),
		Mounts:       g.Mount,
		Env:          g.Env,
		Memory:       g.Memory,
		CPUs:         g.CPUs,
		Network:      g.Network,
		Restart:      g.Restart,
		NoInit:       g.NoInit,
		AllowOutside: g.AllowOutside,
		Warn:         a.stderr,

		Egress:        g.Egress,
		EgressImage:   g.EgressImage,
		EgressBinary:  g.EgressBinary,
		EgressOutside: g.EgressNetwork,
		EgressHosts:   g.EgressHost,
	}, g.Harden, g.NoNetwork), a.docker(), a.runner, st)
	if err != nil {
		// Only a flag's value can make the configuration invalid.
		return nil, usageError{err}
	}
	if a.inFleet() {
		if err := b.UseFleet(ctx, a.fleet(st), a.g.Engine); err != nil {
			return nil, err
		}
	}
	if a.shapes {
		if err := a.settle(ctx, b); err != nil {
			return nil, err
		}
	}
	a.b = b
	return b, nil
}

// inFleet reports whether the call names engines (--engines, --engine):
// without them, the one engine of --context is used as it always was.
func (a *app) inFleet() bool { return len(a.g.Engines) > 0 || a.g.Engine != "" }

// fleet is the engines of the call, with a client for each.
func (a *app) fleet(st *bridge.State) *bridge.Fleet {
	engines := a.g.Engines
	if len(engines) == 0 {
		engines = []string{a.g.Engine}
	}
	return &bridge.Fleet{Engines: engines, State: st, Deadline: a.g.EngineTimeout, LookOnly: !a.shapes, Client: func(engine string) *dockercli.Client {
		c := a.docker()
		c.Context = engine
		return c
	}}
}

// warnEngines says on stderr, one line each, which engines did not answer,
// and reports whether none did.
func (a *app) warnEngines(errs []error) bool {
	failed := 0
	for _, err := range errs {
		var ee *bridge.EngineError
		if errors.As(err, &ee) {
			failed++
			fmt.Fprintf(a.stderr, "dockerbridge: warning: engine %s: %s\n", ee.Engine, message(ee.Err, a.g.Docker))
		}
	}
	return failed > 0 && failed == len(errs)
}

// showRows shows the rows of every engine that answered, and in JSON an
// {engine, error} row for each that did not, warned about on stderr too.
// The call fails when no engine answered.
func showRows[T any](a *app, rows []T, errs []error, human func(w io.Writer) error) error {
	allFailed := a.warnEngines(errs)
	err := a.show(withEngineErrors(rows, errs), human)
	if err == nil && allFailed {
		return exitCode(1)
	}
	return err
}

// withEngineErrors is rows followed by the {engine, error} rows of the
// engines that did not answer.
func withEngineErrors[T any](rows []T, errs []error) []any {
	out := []any{}
	for _, r := range rows {
		out = append(out, r)
	}
	for _, err := range errs {
		var ee *bridge.EngineError
		if errors.As(err, &ee) {
			out = append(out, map[string]string{"engine": ee.Engine, "error": message(ee.Err, "docker")})
		}
	}
	return out
}

// checkEngines refuses an engine list that cannot be meant.
func checkEngines(g *Globals) error {
	if len(g.Engines) == 0 && g.Engine == "" {
		return nil
	}
	if g.Context != "" {
		return errors.New("--context and --engines/--engine both choose the engine: give one of them")
	}
	if g.EngineTimeout <= 0 {
		return fmt.Errorf("--engine-timeout %s: want a positive duration", g.EngineTimeout)
	}
	seen := map[string]bool{}
	for _, e := range g.Engines {
		if e == "" || strings.HasPrefix(e, "-") {
			return fmt.Errorf("--engines %q: want docker context names, comma-separated", strings.Join(g.Engines, ","))
		}
		if seen[e] {
			return fmt.Errorf("--engines: %s is listed twice", e)
		}
		seen[e] = true
	}
	if strings.HasPrefix(g.Engine, "-") || (g.Engine != "" && len(g.Engines) > 0 && !seen[g.Engine]) {
		return fmt.Errorf("--engine %s is not one of --engines %s", g.Engine, strings.Join(g.Engines, ","))
	}
	return nil
}

// settle compares the container's settings with this call's: with
// --recreate it removes a container that differs, so that the call makes it
// anew; otherwise it says once what differs and how to apply it.
func (a *app) settle(ctx context.Context, b *bridge.Bridge) error {
	if a.g.Recreate {
		diff, err := b.Recreate(ctx)
		if err != nil {
			return err
		}
		if diff != nil {
			fmt.Fprintf(a.stderr, "dockerbridge: recreating %s with this call's settings: %s\n", b.Name(), strings.Join(diff, "; "))
		}
		return nil
	}
	if err := b.CheckEgress(ctx); err != nil {
		return err
	}
	diff := b.Drift(ctx)
	if a.envPerCall {
		diff = slices.DeleteFunc(diff, func(d string) bool { return strings.HasPrefix(d, bridge.EnvDiff) })
	}
	if len(diff) > 0 {
		fmt.Fprintf(a.stderr, "dockerbridge: %s was made with other settings: %s; they apply only to a new container: add --recreate to remove it and make it anew\n", b.Name(), strings.Join(diff, "; "))
	}
	return nil
}

// checked is a value that its rule accepts, refused as it is parsed.
type checked[R interface{ check(string) error }] string

func (c *checked[R]) Decode(ctx *kong.DecodeContext) error {
	var v string
	if err := ctx.Scan.PopValueInto("value", &v); err != nil {
		return err
	}
	var rule R
	if err := rule.check(v); err != nil {
		return err
	}
	*c = checked[R](v)
	return nil
}

// The rules of checked values, and their types.
type (
	sessionRule  struct{} // a tmux session name
	targetRule   struct{} // a session name or a %pane id
	socketRule   struct{} // a tmux server's -L name
	jobRule      struct{} // a job name: the session rule
	nonBlankRule struct{} // more than blanks

	session  = checked[sessionRule]
	target   = checked[targetRule]
	socket   = checked[socketRule]
	job      = checked[jobRule]
	nonBlank = checked[nonBlankRule]
)

func (sessionRule) check(v string) error { return tmuxcli.ValidateName(v) }
func (targetRule) check(v string) error  { return tmuxcli.ValidateTarget(v) }
func (socketRule) check(v string) error  { return tmuxcli.ValidateSocket(v) }

func (jobRule) check(v string) error {
	if tmuxcli.ValidateName(v) != nil {
		return fmt.Errorf("invalid job name %q: use letters, digits, '_' and '-'", v)
	}
	return nil
}

func (nonBlankRule) check(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// size is a window size, WIDTHxHEIGHT.
type size struct{ w, h int }

func (s *size) Decode(ctx *kong.DecodeContext) error {
	var v string
	if err := ctx.Scan.PopValueInto("size", &v); err != nil {
		return err
	}
	var w, h int
	if n, err := fmt.Sscanf(v, "%dx%d", &w, &h); err != nil || n != 2 || w < 2 || h < 2 || fmt.Sprintf("%dx%d", w, h) != v {
		return fmt.Errorf("invalid size %q: want WIDTHxHEIGHT, such as 200x50", v)
	}
	*s = size{w, h}
	return nil
}

// waitSpec is task's --wait: idle, exit or prompt:REGEX.
type waitSpec struct{ bridge.TaskWait }

func (w *waitSpec) Decode(ctx *kong.DecodeContext) error {
	var v string
	if err := ctx.Scan.PopValueInto("wait", &v); err != nil {
		return err
	}
	tw, err := bridge.ParseTaskWait(v)
	if err != nil {
		return err
	}
	w.TaskWait = tw
	return nil
}

// compile compiles a flag's Go regular expression; "" is none. lines makes
// ^ and $ match at line ends.
func compile(flag, expr string, lines bool) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	if lines {
		expr = "(?m)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid %s: %w", flag, err)
	}
	return re, nil
}

// StartCmd starts the container.
type StartCmd struct{}

func (c *StartCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	started, err := b.Ensure(ctx)
	return a.report(err, "started", started, b.Name(), "already running")
}

// ExecCmd runs a command in the container.
type ExecCmd struct {
	Stdin       bool     `short:"i" help:"Attach stdin to the command."`
	Cwd         string   `placeholder:"DIR" help:"Working directory of this command: relative to /workspace, or absolute."`
	ExecEnv     []string `name:"set-env" short:"e" sep:"none" placeholder:"K=V" help:"Environment of this command only (repeatable); it wins over --env, which this command gets too."`
	User        string   `short:"u" placeholder:"NAME|UID[:GID]" help:"Run this command as another user of the container (root, for instance) instead of the project user."`
	CommandFile string   `name:"command-file" placeholder:"FILE" help:"Read the command from FILE (\"-\": stdin) instead of the arguments; any length."`
	Command     []string `arg:"" optional:"" passthrough:"partial" help:"Command line; several words are joined with spaces, as ssh does."`
}

func (ExecCmd) givesEnv() {}

func (c *ExecCmd) Validate() error { return envFlag("--set-env", c.ExecEnv) }

func (c *ExecCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	words := words(c.Command)
	command := strings.Join(words, " ")
	switch {
	case c.CommandFile != "" && len(words) > 0:
		return usageError{errors.New("exec: give the command either as arguments or with --command-file, not both")}
	case c.CommandFile == "-" && c.Stdin:
		return usageError{errors.New("exec: --command-file - reads stdin, which -i would give the command too")}
	case c.CommandFile != "":
		text, err := readCommandFile(c.CommandFile, a.stdin)
		if err != nil {
			return err
		}
		command = text
	case len(words) == 0:
		return usageError{errors.New("exec: no command given")}
	}
	opt := bridge.ExecOptions{Timeout: a.timeout, Dir: c.Cwd, Env: c.ExecEnv, User: c.User}
	if c.Stdin {
		opt.Stdin = a.stdin
	}
	if !a.g.JSON {
		opt.Stdout, opt.Stderr = a.stdout, a.stderr
	}
	res, err := b.Exec(ctx, command, opt)
	if err != nil {
		code, jsonCode := 1, 1
		var cmdErr *dockercli.CmdError
		switch {
		case errors.As(err, &cmdErr) || errors.Is(err, dockercli.ErrNotFound):
			// Docker itself failed: 125, as docker run does, so that it is
			// never mistaken for the command's own 1, 126 or 127.
			code, jsonCode = 125, 125
		case !a.g.JSON:
			return err
		case errors.Is(err, bridge.ErrInterrupted):
			// An interrupted command was killed, as a timed-out one is.
			code, jsonCode = 130, -1
		}
		// Under --json the exec keys, exit_code included, for every
		// failure: a caller reads one shape.
		msg := message(err, a.g.Docker)
		fmt.Fprintf(a.stderr, "dockerbridge: %s\n", msg)
		_ = a.show(bridge.ExecResult{Error: msg, ExitCode: jsonCode}, nil)
		return exitCode(code)
	}
	_ = a.show(res, func(io.Writer) error {
		if res.TimedOut {
			fmt.Fprintf(a.stderr, "dockerbridge: %s\n", res.Error)
		}
		return nil
	})
	if res.TimedOut {
		return exitCode(124)
	}
	return exitCode(res.ExitCode)
}

// words drops the "--" kong passes through before a command's words.
func words(w []string) []string {
	if len(w) > 0 && w[0] == "--" {
		return w[1:]
	}
	return w
}

// readCommandFile reads an exec's command from a file, or stdin for "-".
func readCommandFile(name string, stdin io.Reader) (string, error) {
	b, err := readFrom(name, stdin)
	if err != nil {
		return "", fmt.Errorf("exec: read the command: %w", err)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", usageError{fmt.Errorf("exec: the command in %s holds a NUL byte, which bash cannot take", name)}
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", usageError{fmt.Errorf("exec: the command in %s is empty", name)}
	}
	return string(b), nil
}

// readFrom reads a file, or stdin for "-".
func readFrom(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// WriteCmd writes a file.
type WriteCmd struct {
	Path string `arg:"" help:"File to write, relative to /workspace."`
	From string `placeholder:"FILE" help:"Read the content from FILE instead of stdin."`
}

func (c *WriteCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	in := a.stdin
	if c.From != "" {
		f, err := os.Open(c.From)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		defer f.Close()
		in = f
	} else if f, ok := in.(*os.File); ok && isTerminal(f) {
		return usageError{errors.New("write: no input: pipe the content in, or use --from FILE")}
	}
	res, err := b.Write(ctx, c.Path, in)
	if err != nil {
		return err
	}
	return a.show(res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "wrote %d bytes to %s\n", res.BytesWritten, c.Path)
		return err
	})
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	// /dev/null is a character device too: "write F </dev/null" (cron, a
	// caller with no stdin) means an empty file, not a forgotten pipe.
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// ReadCmd prints a file.
type ReadCmd struct {
	Path     string `arg:"" help:"File to read, relative to /workspace."`
	MaxBytes int64  `name:"max-bytes" placeholder:"N" help:"Fail for a file larger than N bytes, printing none of it (default: 10 MiB with --json, no limit without)."`
}

func (c *ReadCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	if c.MaxBytes < 0 {
		return usageError{errors.New("read: --max-bytes must be a positive number of bytes")}
	}
	if !a.g.JSON {
		return b.ReadToLimit(ctx, c.Path, a.stdout, c.MaxBytes)
	}
	res, err := b.ReadLimit(ctx, c.Path, c.MaxBytes)
	if err != nil {
		return err
	}
	return a.show(res, nil)
}

// LsCmd lists files.
type LsCmd struct {
	Path    string `arg:"" optional:"" default:"." help:"Directory to search, relative to /workspace."`
	Pattern string `short:"n" default:"*" placeholder:"GLOB" help:"Only names matching GLOB (find -name)."`
}

func (c *LsCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	res, err := b.ListFiles(ctx, c.Path, c.Pattern)
	if err != nil {
		return err
	}
	return a.show(res, func(w io.Writer) error {
		for _, f := range res.Files {
			fmt.Fprintln(w, f)
		}
		if res.Truncated {
			fmt.Fprintf(a.stderr, "dockerbridge: showing the first %d files\n", bridge.MaxFiles)
		}
		return nil
	})
}

// GrepCmd searches files.
type GrepCmd struct {
	Pattern string `arg:"" help:"Basic regular expression, as grep takes it."`
	Path    string `arg:"" optional:"" default:"." help:"File or directory to search, relative to /workspace."`
}

func (c *GrepCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	res, err := b.Grep(ctx, c.Pattern, c.Path)
	if err != nil {
		return err
	}
	return a.show(res, func(w io.Writer) error {
		fmt.Fprint(w, res.Matches)
		if res.Truncated {
			fmt.Fprintf(a.stderr, "dockerbridge: showing the first %d matches\n", bridge.MaxMatches)
		}
		return nil
	})
}

// StatusCmd shows the container's state.
type StatusCmd struct {
	All bool `help:"Every project container, on every engine: one row each."`
}

func (StatusCmd) control() {}

func (c *StatusCmd) Run(ctx context.Context, a *app, state *bridge.State) error {
	if c.All {
		return c.all(ctx, a, state)
	}
	b, err := a.bridge(ctx)
	if err != nil {
		return err
	}
	return a.result(b.Status(ctx))
}

// all is status --all: one docker ps per engine, every engine at once.
func (c *StatusCmd) all(ctx context.Context, a *app, st *bridge.State) error {
	var rows []bridge.StatusRow
	var errs []error
	var err error
	if a.inFleet() {
		rows, errs = a.fleet(st).StatusAll(ctx)
	} else if rows, err = bridge.StatusAll(ctx, a.docker(), st); err != nil {
		return err
	}
	return showRows(a, rows, errs, func(w io.Writer) error { return bridge.WriteStatusRows(w, rows, a.inFleet()) })
}

// StopCmd stops the container.
type StopCmd struct{}

func (StopCmd) control() {}

func (c *StopCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	stopped, err := b.Stop(ctx)
	if errors.Is(err, bridge.ErrAlreadyStopped) {
		return a.show(map[string]any{"success": true, "stopped": false, "already_stopped": true, "container": b.Name()}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s is already stopped\n", b.Name())
			return err
		})
	}
	return a.report(err, "stopped", stopped, b.Name(), "does not exist")
}

// RmCmd removes the container.
type RmCmd struct{}

func (RmCmd) control() {}

func (c *RmCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	removed, err := b.Remove(ctx)
	return a.report(err, "removed", removed, b.Name(), "does not exist")
}

// report shows what start, stop or rm did to the container: "VERB NAME",
// or NAME and why nothing was done.
func (a *app) report(err error, verb string, done bool, name, why string) error {
	if err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, verb: done, "container": name}, func(w io.Writer) error {
		if done {
			_, err := fmt.Fprintf(w, "%s %s\n", verb, name)
			return err
		}
		_, err := fmt.Fprintf(w, "%s %s\n", name, why)
		return err
	})
}

// PsCmd lists project containers.
type PsCmd struct{}

func (PsCmd) control() {}

func (c *PsCmd) Run(ctx context.Context, a *app, docker *dockercli.Client, st *bridge.State) error {
	if a.inFleet() {
		return c.fleet(ctx, a, st)
	}
	list, err := bridge.ListContainers(ctx, docker)
	if err != nil {
		return err
	}
	return a.show(list, func(w io.Writer) error { return bridge.WriteContainers(w, list, false) })
}

// fleet is ps of every engine at once: each row names its engine, and an
// engine that does not answer is a row of its own ({engine, error} in
// JSON) and a warning, beside the others' rows.
func (c *PsCmd) fleet(ctx context.Context, a *app, st *bridge.State) error {
	list, errs := a.fleet(st).List(ctx)
	return showRows(a, list, errs, func(w io.Writer) error { return bridge.WriteContainers(w, list, true) })
}

// ReapCmd stops idle containers.
type ReapCmd struct {
	Idle      time.Duration `default:"${idle}" help:"Stop containers idle for longer than this."`
	Watch     time.Duration `placeholder:"INTERVAL" help:"Reap every INTERVAL until SIGINT or SIGTERM."`
	DryRun    bool          `help:"Stop nothing: list what would be stopped and how long each has been idle."`
	AnyPrefix bool          `help:"Also reap labelled containers whose name does not start with --container-prefix (other tools' and users')."`
	Projects  []string      `arg:"" optional:"" name:"project" help:"Only these projects (default: every labelled container named with --container-prefix)."`
}

func (ReapCmd) control() {}

func (c *ReapCmd) Run(ctx context.Context, a *app, docker *dockercli.Client, st *bridge.State) error {
	r := &bridge.Reaper{Docker: docker, State: st, Idle: c.Idle, Projects: c.Projects,
		Prefix: a.g.ContainerPrefix, AnyPrefix: c.AnyPrefix, DryRun: c.DryRun}
	// pass reaps once: the result, which names each container's engine on
	// a fleet, and what --json prints.
	pass := func() (bridge.FleetReap, any, error) {
		if !a.inFleet() {
			res, err := r.Reap(ctx)
			return bridge.FleetReap{ReapResult: res}, res, err
		}
		fr, errs := a.fleet(st).Reap(ctx, *r)
		for i, err := range errs {
			var ee *bridge.EngineError
			if errors.As(err, &ee) {
				fr.Engines[i].Error = message(ee.Err, a.g.Docker) // as ps and status --all say it
			}
		}
		if a.warnEngines(errs) {
			return bridge.FleetReap{ReapResult: fr.ReapResult}, fr, errors.Join(errs...)
		}
		return fr, fr, nil
	}
	if c.Watch <= 0 {
		res, out, err := pass()
		if err != nil {
			return err
		}
		return a.show(out, res.WriteText)
	}
	tick := time.NewTicker(c.Watch)
	defer tick.Stop()
	for {
		res, _, err := pass()
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		// One bad round (docker restarting, say) must not end the loop.
		if err != nil {
			fmt.Fprintf(a.stderr, "%s reap: %s\n", now.Format(time.RFC3339), message(err, a.g.Docker))
		}
		_ = res.WriteRound(a.stdout, now, c.Idle, a.g.Verbose && err == nil)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// CpCmd copies between the host and the container's /workspace.
type CpCmd struct {
	Src string `arg:"" placeholder:"SRC" help:"What to copy: a host path, or :PATH in the container."`
	Dst string `arg:"" placeholder:"DST" help:"Where to: :PATH in the container, or a host path."`
}

// Validate checks that exactly one side is the container's.
func (c *CpCmd) Validate() error {
	in, out := strings.HasPrefix(c.Dst, ":"), strings.HasPrefix(c.Src, ":")
	if in == out {
		return errors.New("cp: mark the container side, and only it, with a leading ':' (cp SRC :DST, or cp :SRC DST)")
	}
	if (in && c.Src == "") || (out && c.Dst == "") {
		return errors.New("cp: empty host path")
	}
	return nil
}

func (c *CpCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	// A bare ':' is the workspace itself.
	side := func(p string) string {
		if p == ":" {
			return bridge.Workspace
		}
		return p[1:]
	}
	var res bridge.CopyResult
	var err error
	if strings.HasPrefix(c.Dst, ":") {
		res, err = b.CopyIn(ctx, c.Src, side(c.Dst))
	} else {
		res, err = b.CopyOut(ctx, side(c.Src), c.Dst)
	}
	if err != nil {
		return err
	}
	res.Source, res.Dest = c.Src, c.Dst
	return a.show(res, res.WriteText)
}

// SnapshotCmd records and restores the workspace with git. With no
// subcommand it takes a snapshot.
type SnapshotCmd struct {
	Take    SnapshotTakeCmd    `cmd:"" default:"withargs" help:"Take a snapshot (the default)."`
	Ls      SnapshotLsCmd      `cmd:"" help:"List the snapshots, oldest first."`
	Diff    SnapshotDiffCmd    `cmd:"" help:"Show what changed in the working tree since a snapshot."`
	Restore SnapshotRestoreCmd `cmd:"" help:"Bring the working tree back to a snapshot, after snapshotting the current state."`
}

// SnapshotTakeCmd takes a snapshot.
type SnapshotTakeCmd struct {
	Message string `short:"m" placeholder:"MSG" help:"Message of the snapshot."`
}

func (c *SnapshotTakeCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	return a.result(b.Snapshot(ctx, c.Message))
}

// SnapshotLsCmd lists snapshots.
type SnapshotLsCmd struct{}

func (c *SnapshotLsCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	list, err := b.Snapshots(ctx)
	if err != nil {
		return err
	}
	return a.show(list, func(w io.Writer) error { return bridge.WriteSnapshots(w, list) })
}

// SnapshotDiffCmd shows the changes since a snapshot.
type SnapshotDiffCmd struct {
	ID string `arg:"" help:"Snapshot number (see snapshot ls) or commit id."`
}

func (c *SnapshotDiffCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	res, err := b.SnapshotDiff(ctx, c.ID)
	if err != nil {
		return err
	}
	return a.show(res, func(w io.Writer) error {
		fmt.Fprint(w, res.Diff)
		if res.Diff == "" {
			fmt.Fprintf(a.stderr, "no changes since snapshot %s\n", c.ID)
		}
		return nil
	})
}

// SnapshotRestoreCmd restores a snapshot.
type SnapshotRestoreCmd struct {
	ID string `arg:"" help:"Snapshot number (see snapshot ls) or commit id."`
}

func (c *SnapshotRestoreCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	return a.result(b.Restore(ctx, c.ID))
}

// CommitCmd commits the workspace.
type CommitCmd struct {
	Message string   `short:"m" required:"" placeholder:"MSG" help:"Commit message."`
	Trailer []string `sep:"none" placeholder:"K=V" help:"Add a trailer line \"K: V\" (repeatable)."`
}

func (c *CommitCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	for _, t := range c.Trailer {
		if _, err := bridge.Trailer(t); err != nil {
			return usageError{err}
		}
	}
	return a.result(b.Commit(ctx, c.Message, c.Trailer))
}

// TaskCmd runs one agent task from start to commit.
type TaskCmd struct {
	Agent         nonBlank      `required:"" placeholder:"CMD" help:"Agent command line, run by tmux through sh -c in /workspace."`
	Prompt        string        `placeholder:"TEXT" help:"Text typed into the agent as it is, then Enter."`
	Wait          waitSpec      `default:"idle" placeholder:"idle|exit|prompt:REGEX" help:"When the task is over: the screen is idle, the agent exits (status 0), or REGEX matches what the agent printed after the prompt."`
	Idle          time.Duration `default:"${taskidle}" help:"How long the screen must stay unchanged for --wait idle."`
	CommitMessage string        `placeholder:"MSG" help:"Commit message (default: task: and the prompt's first line)."`
	NoCommit      bool          `help:"Leave the changes uncommitted."`
	Session       session       `default:"${session}" placeholder:"NAME" help:"tmux session of the agent; a live one of that name is reused."`
	Socket        socket        `default:"${socket}" placeholder:"NAME" help:"tmux server socket (tmux -L), as for the tmux commands."`
	KeepRunning   bool          `help:"Leave an agent that outlived --timeout running (default: interrupt it, then kill it)."`
}

func (TaskCmd) givesEnv() {}

// defaultTimeout: --timeout bounds the wait, and exec's 300s does not fit
// a task.
func (TaskCmd) defaultTimeout() time.Duration { return bridge.DefaultTaskTimeout }

func (c *TaskCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	o := bridge.TaskOptions{
		Agent: string(c.Agent), Prompt: c.Prompt, Wait: c.Wait.TaskWait, Idle: c.Idle,
		Timeout:       a.timeout,
		CommitMessage: c.CommitMessage, NoCommit: c.NoCommit,
		Session: string(c.Session), Socket: string(c.Socket), Env: a.g.Env, KeepRunning: c.KeepRunning,
	}
	if f, ok := a.stderr.(*os.File); ok && isTerminal(f) {
		o.Progress = func(elapsed time.Duration, line string) {
			if r := []rune(line); len(r) > 60 {
				line = string(r[:59]) + "…"
			}
			fmt.Fprintf(f, "\r\033[K[%s] %s", elapsed.Round(time.Second), line)
		}
	}
	rep, err := b.Task(ctx, o)
	if o.Progress != nil {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	if err != nil {
		if rep.Restore != "" {
			fmt.Fprintf(a.stderr, "dockerbridge: task: nothing committed; to undo the task: %s\n", rep.Restore)
		}
		return err
	}
	_ = a.show(rep, rep.WriteText)
	if !rep.Success {
		fmt.Fprintf(a.stderr, "dockerbridge: task: %s; nothing committed; to undo the task: %s\n", rep.Error, rep.Restore)
		return exitCode(1)
	}
	return nil
}

// TmuxCmd drives interactive programs (coding agents, REPLs, shells) through
// tmux: in the project's container, or on the host with --local.
type TmuxCmd struct {
	Local  bool   `help:"Drive tmux on the host instead of in the project's container."`
	Socket socket `default:"${socket}" placeholder:"NAME" help:"Name of the private tmux server's socket (tmux -L)."`

	New        TmuxNewCmd        `cmd:"" help:"Create a session running --cmd (default: the shell) and print its pane id."`
	Send       TmuxSendCmd       `cmd:"" help:"Type text into a session as it is, then press Enter."`
	Keys       TmuxKeysCmd       `cmd:"" help:"Send named keys: C-c, Escape, Up, Tab, Enter..."`
	Capture    TmuxCaptureCmd    `cmd:"" help:"Print a session's screen, or more of its history."`
	WaitPrompt TmuxWaitPromptCmd `cmd:"" name:"wait-prompt" help:"Wait until a regular expression matches the screen."`
	WaitIdle   TmuxWaitIdleCmd   `cmd:"" name:"wait-idle" help:"Wait until the screen has stopped changing."`
	WaitShell  TmuxWaitShellCmd  `cmd:"" name:"wait-shell" help:"Wait until the session's shell is back at its prompt."`
	Run        TmuxRunCmd        `cmd:"" help:"Run a command in a session's shell; print its output and exit with its code."`
	Interrupt  TmuxInterruptCmd  `cmd:"" help:"Send C-c."`
	Kill       TmuxKillCmd       `cmd:"" help:"Kill a session."`
	Ls         TmuxLsCmd         `cmd:"" help:"List sessions: name, pane id, pid, dead or alive, exit status."`
	State      TmuxStateCmd      `cmd:"" help:"Say what a session's program is doing: working, idle, waiting or exited."`
	Log        TmuxLogCmd        `cmd:"" help:"Print what a session started with --log has printed."`
}

// ProvideServer provides the tmux server the command drives.
func (t *TmuxCmd) ProvideServer(ctx context.Context, a *app) (*tmuxcli.Server, error) {
	if t.Local {
		dir := a.g.StateDir
		if dir == "" {
			dir = bridge.DefaultStateDir()
		}
		return &tmuxcli.Server{Runner: a.runner, Socket: string(t.Socket), LogDir: filepath.Join(dir, "transcripts")}, nil
	}
	b, err := a.bridge(ctx)
	if err != nil {
		return nil, err
	}
	return b.Tmux(string(t.Socket)), nil
}

// tmuxText is the text argument, or the content of --from FILE ("-": stdin).
func tmuxText(a *app, arg, from, verb string) (string, error) {
	if from == "" {
		return arg, nil
	}
	if arg != "" {
		return "", usageError{fmt.Errorf("tmux %s: give the text or --from, not both", verb)}
	}
	data, err := readFrom(from, a.stdin)
	if err != nil {
		return "", fmt.Errorf("tmux %s: read %s: %w", verb, from, err)
	}
	return string(data), nil
}

// TmuxNewCmd creates a session.
type TmuxNewCmd struct {
	Name    session       `arg:"" help:"Session name: letters, digits, '_' and '-'."`
	Cmd     string        `placeholder:"CMD" help:"Command to run through sh -c (default: the shell). The global --env K=V also sets the pane's environment."`
	Size    size          `default:"${size}" placeholder:"WxH" help:"Window size."`
	History int           `default:"${history}" help:"Lines of scrollback (set before the pane is created)."`
	Ready   time.Duration `default:"10s" help:"How long to wait for the program to draw something."`
	Log     bool          `help:"Record everything the session prints (tmux log prints it)."`
	LogMax  int64         `default:"${logmax}" placeholder:"BYTES" help:"Rotate the record at this size: it keeps the last BYTES to twice that."`
}

func (TmuxNewCmd) givesEnv() {}

func (c *TmuxNewCmd) Validate() error {
	if c.History < 1 {
		return errors.New("--history must be positive")
	}
	if c.LogMax < 1024 {
		return errors.New("--log-max must be at least 1024")
	}
	return nil
}

func (c *TmuxNewCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	name := string(c.Name)
	o := tmuxcli.NewOptions{Name: name, Command: c.Cmd, Width: c.Size.w, Height: c.Size.h, History: c.History, Env: a.g.Env}
	if c.Log {
		o.Transcript, o.TranscriptMax = s.TranscriptPath(name), c.LogMax
	}
	pane, drawn, err := s.New(ctx, o, c.Ready)
	if err != nil {
		return err
	}
	out := map[string]any{"success": true, "name": name, "pane_id": pane, "drawn": drawn}
	if o.Transcript != "" {
		out["transcript"] = o.Transcript
	}
	return a.show(out, func(w io.Writer) error {
		fmt.Fprintln(w, pane)
		if !drawn && c.Ready > 0 {
			fmt.Fprintf(a.stderr, "dockerbridge: tmux new: %s has drawn nothing yet after %s\n", name, c.Ready)
		}
		return nil
	})
}

// TmuxSendCmd types text.
type TmuxSendCmd struct {
	Name        target        `arg:"" help:"Session name or %pane id."`
	Text        string        `arg:"" optional:"" help:"Text, typed as it is: a key name such as Enter is typed as text (put -- before a text that starts with -)."`
	From        string        `placeholder:"FILE" help:"Read the text from FILE (- for stdin)."`
	NoEnter     bool          `help:"Do not press Enter after the text."`
	DelayEnter  time.Duration `default:"100ms" help:"Pause between the text and Enter."`
	VerifyEnter bool          `help:"Confirm that the program took the input (its input line no longer holds the text, or the cursor left it); press Enter again (up to 3 times) if not, then fail."`
}

func (c *TmuxSendCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	text, err := tmuxText(a, c.Text, c.From, "send")
	if err != nil {
		return err
	}
	err = s.Send(ctx, string(c.Name), text, tmuxcli.SendOptions{NoEnter: c.NoEnter, DelayEnter: c.DelayEnter, VerifyEnter: c.VerifyEnter})
	if err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, "bytes": len(text), "pasted": tmuxcli.NeedsPaste(text)}, nil)
}

// TmuxKeysCmd sends named keys.
type TmuxKeysCmd struct {
	Name   target   `arg:"" help:"Session name or %pane id."`
	Keys   []string `arg:"" help:"Key names as tmux knows them: C-c, Escape, Up, Tab, Enter, F1, M-x..."`
	Repeat int      `short:"N" default:"1" help:"Send the keys this many times."`
}

func (c *TmuxKeysCmd) Run(ctx context.Context, s *tmuxcli.Server) error {
	return s.Keys(ctx, string(c.Name), c.Repeat, c.Keys...)
}

// TmuxCaptureCmd prints a pane.
type TmuxCaptureCmd struct {
	Name  target `arg:"" help:"Session name or %pane id."`
	Lines int    `short:"n" placeholder:"N" help:"The last N lines, history included."`
	All   bool   `help:"The whole history."`
	ANSI  bool   `name:"ansi" help:"Keep colours and attributes as escape sequences."`
}

func (c *TmuxCaptureCmd) Validate() error {
	if c.Lines < 0 || (c.Lines > 0 && c.All) {
		return errors.New("give --lines N (N > 0) or --all, not both")
	}
	return nil
}

func (c *TmuxCaptureCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	res, err := s.Capture(ctx, string(c.Name), tmuxcli.CaptureOptions{Lines: c.Lines, All: c.All, ANSI: c.ANSI})
	if err != nil {
		return err
	}
	return a.show(res, func(w io.Writer) error {
		_, err := fmt.Fprint(w, res.Content)
		return err
	})
}

// waitReport prints how a wait ended, under key in JSON; a timeout exits 1.
func (a *app) waitReport(verb, key string, res tmuxcli.WaitResult, err error) error {
	if err != nil {
		return err
	}
	out := map[string]any{key: res.OK, "waited_ms": res.Waited.Milliseconds(), "content": res.Content, "polls": res.Polls}
	if key == "matched" {
		out["match"] = res.Match
	}
	_ = a.show(out, func(w io.Writer) error {
		_, err := fmt.Fprint(w, res.Content)
		return err
	})
	if !res.OK {
		fmt.Fprintf(a.stderr, "dockerbridge: tmux %s: timed out after %s\n", verb, a.timeout)
		return exitCode(1)
	}
	return nil
}

// TmuxWaitPromptCmd waits for a pattern.
type TmuxWaitPromptCmd struct {
	Name     target        `arg:"" help:"Session name or %pane id."`
	Regex    string        `arg:"" help:"Go regular expression; ^ and $ match at line ends. Searched in the screen and the last --history lines."`
	Interval time.Duration `default:"${interval}" help:"Time between two looks at the screen."`
	History  int           `default:"${promptlines}" help:"Lines of history searched above the screen."`
	Changed  bool          `help:"Only match once the screen differs from when the wait began (a prompt still showing does not count)."`

	re *regexp.Regexp
}

func (TmuxWaitPromptCmd) defaultTimeout() time.Duration { return 10 * time.Second }

func (c *TmuxWaitPromptCmd) Validate() (err error) {
	if c.re, err = regexp.Compile("(?m)" + c.Regex); err != nil {
		return fmt.Errorf("invalid regular expression: %w", err)
	}
	return nil
}

func (c *TmuxWaitPromptCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	res, err := s.WaitPrompt(ctx, string(c.Name), c.re, tmuxcli.WaitOptions{Timeout: a.timeout, Interval: c.Interval, History: c.History, Changed: c.Changed})
	return a.waitReport("wait-prompt", "matched", res, err)
}

// TmuxWaitIdleCmd waits for the screen to settle.
type TmuxWaitIdleCmd struct {
	Name     target        `arg:"" help:"Session name or %pane id."`
	Idle     time.Duration `default:"${screenidle}" help:"How long the screen and cursor must stay unchanged."`
	Interval time.Duration `default:"${interval}" help:"Time between two looks at the screen."`
	Ignore   string        `placeholder:"REGEX" help:"Mask what this Go regular expression matches (spinners, clocks) before comparing."`

	ignore *regexp.Regexp
}

func (TmuxWaitIdleCmd) defaultTimeout() time.Duration { return 60 * time.Second }

func (c *TmuxWaitIdleCmd) Validate() (err error) {
	c.ignore, err = compile("--ignore", c.Ignore, true)
	return err
}

func (c *TmuxWaitIdleCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	res, err := s.WaitIdle(ctx, string(c.Name), tmuxcli.WaitOptions{Timeout: a.timeout, Interval: c.Interval, Idle: c.Idle, Ignore: c.ignore})
	return a.waitReport("wait-idle", "idle", res, err)
}

// TmuxWaitShellCmd waits for the shell's prompt.
type TmuxWaitShellCmd struct {
	Name     target        `arg:"" help:"Session name or %pane id."`
	Prompt   string        `placeholder:"REGEX" help:"What the cursor's line ends with at a prompt (default: one of $ # % > and a space)."`
	Interval time.Duration `default:"${interval}" help:"Time between two looks at the screen."`

	prompt *regexp.Regexp
}

func (TmuxWaitShellCmd) defaultTimeout() time.Duration { return 30 * time.Second }

func (c *TmuxWaitShellCmd) Validate() (err error) {
	c.prompt, err = compile("--prompt", c.Prompt, false)
	return err
}

func (c *TmuxWaitShellCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	res, err := s.WaitShell(ctx, string(c.Name), tmuxcli.WaitOptions{Timeout: a.timeout, Interval: c.Interval, Prompt: c.prompt})
	return a.waitReport("wait-shell", "completed", res, err)
}

// TmuxRunCmd runs a shell command in a session and waits for it.
type TmuxRunCmd struct {
	Name    target `arg:"" help:"Session name or %pane id; its pane must sit at a shell prompt."`
	Command string `arg:"" optional:"" help:"Shell command line; several lines, heredocs and comments are fine."`
	From    string `placeholder:"FILE" help:"Read the command from FILE (- for stdin)."`
	Cwd     string `placeholder:"DIR" help:"Run the command in DIR (relative to /workspace, or absolute; with --local, to the current directory), in a subshell: the session's shell keeps its own directory."`
}

func (c *TmuxRunCmd) Run(ctx context.Context, a *app, t *TmuxCmd, s *tmuxcli.Server) error {
	command, err := tmuxText(a, c.Command, c.From, "run")
	if err != nil {
		return err
	}
	if strings.TrimSpace(command) == "" {
		return usageError{errors.New("tmux run: no command given")}
	}
	o := tmuxcli.RunOptions{Timeout: a.timeout}
	if c.Cwd != "" {
		if o.Dir, err = c.dir(ctx, a, t); err != nil {
			return err
		}
	}
	res, err := s.Run(ctx, string(c.Name), command, o)
	if err != nil {
		return err
	}
	_ = a.show(res, func(w io.Writer) error {
		_, err := fmt.Fprint(w, res.Output)
		return err
	})
	if res.Status == tmuxcli.StatusTimeout {
		fmt.Fprintf(a.stderr, "dockerbridge: tmux run: timed out after %s; the command keeps running (interrupt stops it)\n", a.timeout)
		return exitCode(124)
	}
	return exitCode(res.ExitCode)
}

// dir is --cwd made absolute and checked to be a directory the project
// user can enter, before anything is typed: a missing one is an error that
// names it, not a line in the pane.
func (c *TmuxRunCmd) dir(ctx context.Context, a *app, t *TmuxCmd) (string, error) {
	if t.Local {
		dir, err := filepath.Abs(c.Cwd)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("tmux run: working directory %s: no such directory", dir)
		}
		return dir, nil
	}
	b, err := a.bridge(ctx)
	if err != nil {
		return "", err
	}
	dir, err := b.WorkDir(ctx, c.Cwd)
	if err != nil {
		return "", fmt.Errorf("tmux run: %w", err)
	}
	return dir, nil
}

// TmuxInterruptCmd sends C-c.
type TmuxInterruptCmd struct {
	Name target `arg:"" help:"Session name or %pane id."`
}

func (c *TmuxInterruptCmd) Run(ctx context.Context, s *tmuxcli.Server) error {
	return s.Interrupt(ctx, string(c.Name))
}

// TmuxKillCmd kills a session.
type TmuxKillCmd struct {
	Name target `arg:"" help:"Session name or %pane id."`
}

func (c *TmuxKillCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	if err := s.Kill(ctx, string(c.Name)); err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, "killed": c.Name}, nil)
}

// TmuxLsCmd lists sessions.
type TmuxLsCmd struct{}

func (c *TmuxLsCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	panes, err := s.List(ctx)
	if err != nil {
		return err
	}
	return a.show(panes, func(w io.Writer) error { return tmuxcli.WritePanes(w, panes) })
}

// TmuxStateCmd says what a session's program is doing, in one call.
type TmuxStateCmd struct {
	Name   target        `arg:"" help:"Session name or %pane id."`
	Idle   time.Duration `default:"${screenidle}" help:"A pane that printed nothing for this long is idle rather than working."`
	Prompt string        `placeholder:"REGEX" help:"The program is waiting when this Go regular expression matches its last --lines non-blank lines."`
	Lines  int           `default:"3" help:"How many of the last non-blank lines --prompt is tried on."`

	prompt *regexp.Regexp
}

func (c *TmuxStateCmd) Validate() (err error) {
	if c.Idle <= 0 || c.Lines <= 0 {
		return errors.New("--idle and --lines must be positive")
	}
	c.prompt, err = compile("--prompt", c.Prompt, true)
	return err
}

func (c *TmuxStateCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	return a.result(s.State(ctx, string(c.Name), tmuxcli.StateOptions{Idle: c.Idle, Prompt: c.prompt, Lines: c.Lines}))
}

// TmuxLogCmd prints a session's transcript.
type TmuxLogCmd struct {
	Name  session `arg:"" help:"Session name."`
	Plain bool    `help:"Strip colours, cursor moves and other control sequences."`
}

func (c *TmuxLogCmd) Run(ctx context.Context, a *app, s *tmuxcli.Server) error {
	name := string(c.Name)
	if !c.Plain && !a.g.JSON {
		return s.Transcript(ctx, name, a.stdout)
	}
	var buf bytes.Buffer
	if err := s.Transcript(ctx, name, &buf); err != nil {
		return err
	}
	text := buf.Bytes()
	if c.Plain {
		text = tmuxcli.Plain(text)
	}
	return a.show(map[string]any{"success": true, "name": name, "path": s.TranscriptPath(name), "content": string(text)}, func(w io.Writer) error {
		_, err := w.Write(text)
		return err
	})
}

// indexOr is the index of v in s, or def when it is absent.
func indexOr(s []string, v string, def int) int {
	if i := slices.Index(s, v); i >= 0 {
		return i
	}
	return def
}

// JobCmd runs commands in the background in the container.
type JobCmd struct {
	Start JobStartCmd `cmd:"" help:"Start a command in the background as job NAME; its output goes to its log."`
	Ls    JobLsCmd    `cmd:"" help:"List jobs: name, state, exit status, pid, start time, command."`
	Logs  JobLogsCmd  `cmd:"" help:"Print a job's output so far, or follow it until the job ends (-f)."`
	Wait  JobWaitCmd  `cmd:"" help:"Wait until a job ends (at most --timeout) and exit with its status."`
	Kill  JobKillCmd  `cmd:"" help:"Kill every process a job started."`
}

// JobStartCmd starts a job.
type JobStartCmd struct {
	Name    job      `arg:"" help:"Job name: letters, digits, '_' and '-'."`
	Command []string `arg:"" optional:"" passthrough:"partial" help:"Command line, after --; several words are joined with spaces."`
}

func (JobStartCmd) givesEnv() {}

func (c *JobStartCmd) Validate() error {
	if len(words(c.Command)) == 0 {
		return errors.New("no command given")
	}
	return nil
}

func (c *JobStartCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	j, err := b.StartJob(ctx, string(c.Name), strings.Join(words(c.Command), " "))
	if err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, "job": j}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "job %s started: pid %d, log %s\n", j.Name, j.PID, j.Log)
		return err
	})
}

// JobLsCmd lists jobs.
type JobLsCmd struct{}

func (c *JobLsCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	jobs, err := b.Jobs(ctx)
	if err != nil {
		return err
	}
	return a.show(jobs, func(w io.Writer) error { return bridge.WriteJobs(w, jobs) })
}

// JobLogsCmd prints a job's log.
type JobLogsCmd struct {
	Name   job  `arg:"" help:"Job name."`
	Follow bool `short:"f" help:"Keep printing until the job ends (at most --timeout)."`
}

func (c *JobLogsCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	if !a.g.JSON {
		return b.JobLogs(ctx, string(c.Name), c.Follow, a.timeout, a.stdout)
	}
	buf := dockercli.NewCapBuffer(b.Config().OutputCap)
	if err := b.JobLogs(ctx, string(c.Name), c.Follow, a.timeout, buf); err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, "name": c.Name, "content": buf.String(), "truncated": buf.Truncated()}, nil)
}

// JobWaitCmd waits for a job.
type JobWaitCmd struct {
	Name job `arg:"" help:"Job name."`
}

func (c *JobWaitCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	j, timedOut, err := b.WaitJob(ctx, string(c.Name), a.timeout)
	if err != nil {
		return err
	}
	_ = a.show(map[string]any{"success": !timedOut && j.State == bridge.JobExited && j.ExitCode != nil && *j.ExitCode == 0, "timed_out": timedOut, "job": j}, nil)
	switch {
	case timedOut:
		fmt.Fprintf(a.stderr, "dockerbridge: job wait: %s still running after %s\n", c.Name, a.timeout)
		return exitCode(124)
	case j.State == bridge.JobLost:
		fmt.Fprintf(a.stderr, "dockerbridge: job wait: %s ended without an exit status (the container was restarted)\n", c.Name)
		return exitCode(1)
	case j.ExitCode != nil:
		return exitCode(*j.ExitCode)
	}
	return nil
}

// JobKillCmd kills a job.
type JobKillCmd struct {
	Name job `arg:"" help:"Job name."`
}

func (c *JobKillCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	j, err := b.KillJob(ctx, string(c.Name))
	if err != nil {
		return err
	}
	return a.show(map[string]any{"success": true, "job": j}, func(w io.Writer) error {
		if j.State == bridge.JobKilled {
			fmt.Fprintf(w, "job %s killed\n", j.Name)
		} else {
			fmt.Fprintf(w, "job %s had already ended: %s\n", j.Name, j.Describe())
		}
		return nil
	})
}

// EgressCmd groups the egress commands.
type EgressCmd struct {
	Log EgressLogCmd `cmd:"" help:"Print the requests the egress proxy refused: time, method, host:port and why."`
}

// EgressLogCmd prints the proxy's denials.
type EgressLogCmd struct{}

func (EgressLogCmd) control() {}

func (c *EgressLogCmd) Run(ctx context.Context, a *app, b *bridge.Bridge) error {
	recs, err := b.EgressLog(ctx)
	if err != nil {
		return err
	}
	return a.show(recs, func(w io.Writer) error {
		for _, r := range recs {
			fmt.Fprintln(w, r)
		}
		return nil
	})
}

// ProxyCmd is the egress proxy itself: the proxy container runs it. It
// logs each refused request on stdout, as one JSON line, for egress log.
type ProxyCmd struct {
	Listen string `default:":3128" placeholder:"ADDR" help:"Address to listen on."`
	Policy string `required:"" placeholder:"allow=HOST[:PORT],..." help:"What to let through."`
}

func (ProxyCmd) control() {}

func (c *ProxyCmd) Run(ctx context.Context, a *app) error {
	policy, err := egress.ParsePolicy([]string{c.Policy})
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "dockerbridge proxy: listening on %s, %s\n", ln.Addr(), policy)
	return egress.Serve(ctx, ln, &egress.Proxy{Policy: policy, Log: a.stdout})
}
