package bridge

import (
	"context"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"

	"github.com/google/go-cmp/cmp"
)

// The fuzz targets check the properties the tool's safety rests on, for any
// input: a path is refused or lands under /workspace and can never be read as
// an option; a project name is refused or is one docker accepts and can
// smuggle nothing into a label or a filter; and every string a caller gives
// reaches docker, bash or tmux as one whole argv element. Plain go test runs
// the seeds below; scripts/fuzz searches further.

// dockerNameRE is the engine's own rule for container names
// (daemon/names.RestrictedNamePattern).
var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func FuzzContainerPath(f *testing.F) {
	for _, s := range []string{
		"", ".", "..", "/", "a.txt", "./a/../b", "../etc/passwd", "a/../../b", "/workspace", "/workspace/",
		"/workspace/../etc", "/workspacex", "//workspace//a", "-rf", "--help", "./-x", "a\x00b",
		"it's \"q\"; $(touch x) `id`", "new\nline", " lead space", "/workspace/-", "~", "\\..\\x",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, allowOutside bool) {
		got, err := ContainerPath(p, allowOutside)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(p, "\n") {
				t.Errorf("ContainerPath(%q): error %q spans lines", p, err)
			}
			return
		}
		if !path.IsAbs(got) || path.Clean(got) != got {
			t.Errorf("ContainerPath(%q) = %q: not a clean absolute path", p, got)
		}
		if strings.HasPrefix(got, "-") || strings.ContainsRune(got, 0) {
			t.Errorf("ContainerPath(%q) = %q: an option or a NUL", p, got)
		}
		if !allowOutside && got != Workspace && !strings.HasPrefix(got, Workspace+"/") {
			t.Errorf("ContainerPath(%q) = %q: outside %s", p, got, Workspace)
		}
		want := path.Clean(p)
		if !path.IsAbs(p) {
			want = path.Join(Workspace, p)
		}
		if got != want {
			t.Errorf("ContainerPath(%q) = %q, want %q", p, got, want)
		}
		if again, err := ContainerPath(got, allowOutside); err != nil || again != got {
			t.Errorf("ContainerPath(%q) = %q, %v; want it unchanged", got, again, err)
		}
		shown := displayPath(p, got)
		if strings.HasPrefix(shown, "-") {
			t.Errorf("displayPath(%q) = %q: an option", p, shown)
		}
		if resolved := path.Join(Workspace, shown); path.IsAbs(shown) && path.Clean(shown) != got || !path.IsAbs(shown) && resolved != got {
			t.Errorf("displayPath(%q) = %q names another file than %q", p, shown, got)
		}
	})
}

func FuzzValidateProject(f *testing.F) {
	for _, s := range []string{
		"web", "a", "A.b_c-d", "0", "-rf", ".hidden", "_x", "a b", "a=b", "x\n--privileged", "a/b", "a:b",
		"x --label evil=1", "é", "a\x00", "luzia.project=x", strings.Repeat("a", 200), strings.Repeat("a", 201),
	} {
		f.Add(s, "luzia-")
	}
	f.Add("x", "")
	f.Add("x", "-")
	f.Add("x", "bad prefix ")
	f.Add("x", "a=")
	st, err := OpenState(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, project, prefix string) {
		err := ValidateProject(project)
		// Docker takes names of two characters or more; a project of one is
		// fine because the container name has the prefix before it.
		docker := len(project) <= 200 && dockerNameRE.MatchString(project+"x")
		if (err == nil) != docker {
			t.Fatalf("ValidateProject(%q) = %v; docker's rule says valid=%v", project, err, docker)
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ValidateProject(%q): error %q spans lines", project, err)
			}
			return
		}
		if strings.ContainsAny(project, "= \t\n\r,;/:\"'\\$`") {
			t.Errorf("ValidateProject(%q) accepted a character that could end a label or a filter", project)
		}
		b, err := New(Config{Project: project, Prefix: prefix, HostPath: "/w"}, &dockercli.Client{}, hostIDs{"1", "1"}, st)
		if err != nil {
			return // a bad prefix
		}
		name := b.Name()
		if !dockerNameRE.MatchString(name) {
			t.Fatalf("New accepted prefix %q: container name %q is not one docker takes", prefix, name)
		}
		id, err := b.Identity(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		spec := b.RunSpec(id, time.Unix(0, 0))
		argv := spec.Args()
		if i := slices.Index(argv, "--name"); i < 0 || argv[i+1] != name {
			t.Errorf("run argv %q: --name is not followed by %q", argv, name)
		}
		if !slices.Contains(argv, ProjectLabel+"="+project) {
			t.Errorf("run argv %q lacks the label %s=%s as one element", argv, ProjectLabel, project)
		}
		ps := dockercli.PsArgs(true, "{{.Names}}", ProjectLabel+"="+project)
		if !slices.Contains(ps, "label="+ProjectLabel+"="+project) {
			t.Errorf("ps argv %q lacks the label filter as one element", ps)
		}
	})
}

// fuzzRecorder answers every call with exit code 0 and keeps the argv.
type fuzzRecorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (r *fuzzRecorder) Run(_ context.Context, c dockercli.Cmd) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, slices.Clone(c.Args))
	return 0, nil
}

func (r *fuzzRecorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

// splitExec reads a docker exec argv the way docker's flag parser does: a
// flag that takes a value takes the next element whatever it holds, and the
// first other element is the container. It returns the container and the
// command, or ok false when the argv is not one docker would parse so.
func splitExec(argv []string) (container string, command []string, ok bool) {
	if len(argv) < 2 || argv[0] != "docker" || argv[1] != "exec" {
		return "", nil, false
	}
	a := argv[2:]
	for len(a) > 0 {
		switch a[0] {
		case "-i":
			a = a[1:]
		case "-e", "--user", "-w":
			if len(a) < 2 {
				return "", nil, false
			}
			a = a[2:]
		default:
			if strings.HasPrefix(a[0], "-") {
				return "", nil, false
			}
			return a[0], a[1:], true
		}
	}
	return "", nil, false
}

// Every file operation runs a constant script; the caller's path and pattern
// are positional arguments of their own, and the path is never an option.
func FuzzFileOpArgv(f *testing.F) {
	for _, s := range [][2]string{
		{"a.txt", "*"}, {"-rf", "--include=x"}, {"q'; touch pwned; echo '", "$(id)"}, {"new\nline", "`id`"},
		{"..", "*"}, {"/etc/passwd", ""}, {"", ""}, {"./--help", "-e"}, {"dir/", "a\\;"}, {"/workspace/-", "-"},
	} {
		f.Add(s[0], s[1], false)
	}
	f.Add("/etc", "root", true)
	st, err := OpenState(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	rec := &fuzzRecorder{}
	f.Fuzz(func(t *testing.T, p, pattern string, allowOutside bool) {
		b, err := New(Config{Project: "fuzz", HostPath: "/w", AllowOutside: allowOutside}, &dockercli.Client{Runner: rec}, hostIDs{"1", "1"}, st)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		allow := map[bool]string{false: "0", true: "1"}[allowOutside]
		abs, pathErr := ContainerPath(p, allowOutside)
		listPath, listPattern := p, pattern
		if listPath == "" {
			listPath = "."
		}
		if listPattern == "" {
			listPattern = "*"
		}
		listAbs, listErr := ContainerPath(listPath, allowOutside)
		writeErr := pathErr
		if writeErr == nil && strings.HasSuffix(p, "/") {
			writeErr = ErrIsDir // a trailing slash names a directory
		}
		if writeErr == nil && isWriteTemp([]byte(abs)) {
			writeErr = ErrReserved
		}
		ops := []struct {
			name    string
			script  string
			abs     string
			err     error
			pattern *string
			run     func() error
		}{
			{"write", writeScript(), abs, writeErr, nil, func() error {
				_, err := b.Write(ctx, p, strings.NewReader("x"))
				return err
			}},
			{"read", readScript(), abs, pathErr, nil, func() error { return b.ReadTo(ctx, p, nil) }},
			{"ls", listScript(), listAbs, listErr, &listPattern, func() error {
				_, err := b.ListFiles(ctx, p, pattern)
				return err
			}},
			{"grep", grepScript(), listAbs, listErr, &pattern, func() error {
				_, err := b.Grep(ctx, pattern, p)
				return err
			}},
		}
		for _, op := range ops {
			err := op.run()
			calls := rec.take()
			if op.err != nil {
				if err == nil || len(calls) > 0 {
					t.Errorf("%s %q: refused path ran %d calls, err %v", op.name, p, len(calls), err)
				}
				continue
			}
			if len(calls) != 1 {
				t.Fatalf("%s %q: %d docker calls, want 1 (err %v)", op.name, p, len(calls), err)
			}
			ctr, cmd, ok := splitExec(calls[0])
			if !ok || ctr != "luzia-fuzz" {
				t.Fatalf("%s %q: docker would not parse %q as an exec in luzia-fuzz", op.name, p, calls[0])
			}
			x := execCall{command: cmd}
			unwrap(&x)
			if !x.wrapped {
				t.Fatalf("%s %q: command %q does not go through the door's wrapper", op.name, p, cmd)
			}
			cmd = x.command
			head := []string{"bash", "-c", op.script, "bash", allow}
			if len(cmd) < len(head)+1 || !slices.Equal(cmd[:len(head)], head) {
				t.Fatalf("%s %q: command %q does not start with the constant script", op.name, p, cmd)
			}
			arg := cmd[len(head)]
			resolved := arg
			if !path.IsAbs(arg) {
				resolved = path.Join(Workspace, arg)
			}
			if strings.HasPrefix(arg, "-") || path.Clean(resolved) != op.abs {
				t.Errorf("%s %q: path argument %q is an option or names another file than %q", op.name, p, arg, op.abs)
			}
			if op.pattern != nil && (len(cmd) < len(head)+2 || cmd[len(head)+1] != *op.pattern) {
				t.Errorf("%s %q: pattern %q is not one whole argument in %q", op.name, p, *op.pattern, cmd)
			}
		}
	})
}

// A tmux call in the container is docker exec of the tmux argv unchanged:
// each element, the caller's text included, stays one element.
func FuzzTmuxExecArgv(f *testing.F) {
	f.Add("work", "echo hi; rm -rf /", "A=1 --privileged", "hello;")
	f.Add("x", "", "", "-l")
	f.Add("%3", "\n", "K=\x00", "\\;")
	f.Fuzz(func(t *testing.T, name, command, env, text string) {
		if tmuxcli.ValidateTarget(name) != nil {
			return // the CLI refuses it before anything runs
		}
		srv := &tmuxcli.Server{Socket: "dockerbridge"}
		for _, args := range [][]string{
			tmuxcli.NewArgs(tmuxcli.NewOptions{Name: name, Command: command, Env: []string{env}}),
			tmuxcli.LiteralArgs(tmuxcli.Target(name), text),
			tmuxcli.KeysArgs(tmuxcli.Target(name), 2, text, env),
		} {
			argv := srv.Argv(args...)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			spec := TmuxExecSpec(dockercli.Cmd{Args: argv})
			spec.Command = wrap(ctx, call{argv: spec.Command, needs: argv[:1]})
			cancel()
			spec.Container = "luzia-fuzz"
			ctr, cmd, ok := splitExec(append([]string{"docker"}, spec.Args()...))
			if !ok || ctr != "luzia-fuzz" {
				t.Fatalf("docker would not parse the exec of %q", argv)
			}
			if len(cmd) != len(argv)+7 || cmd[2] != wrapScript || cmd[6] != "--" {
				t.Fatalf("command %q is not the wrapper and the tmux argv %q", cmd, argv)
			}
			if diff := cmp.Diff(argv, cmd[7:]); diff != "" {
				t.Errorf("tmux argv changed on its way into docker exec (-want +got):\n%s", diff)
			}
		}
	})
}
