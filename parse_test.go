package main

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"dockerbridge/bridge"
)

// parsed is what a parse decided: what kong wrote, the error, the command,
// the global flags and the fields of the command's struct.
type parsed struct {
	Out, Err, Error string
	Exit            int
	Command         string
	Globals         Globals
	Cmds            []any
}

func parseWith(t *testing.T, args []string, whole bool) (parsed, *kong.Context) {
	t.Helper()
	var p parsed
	var out, errOut bytes.Buffer
	exited := false
	p.Exit = -1
	exit := func(c int) { exited, p.Exit = true, c }
	var (
		g    *Globals
		kctx *kong.Context
		err  error
	)
	if whole {
		g, kctx, err = parseWhole(args, kongOptions(&out, &errOut, exit))
	} else {
		g, kctx, err = parse(args, &out, &errOut, exit)
	}
	p.Out, p.Err = out.String(), errOut.String()
	if err != nil && !exited { // after an exit the caller looks no further
		p.Error = err.Error()
	}
	p.Globals = *g
	if err == nil && kctx != nil && kctx.Selected() != nil {
		p.Command = kctx.Command()
		// The structs of the selected command and of its parents.
		for _, n := range kctx.Path {
			if n.Command != nil {
				p.Cmds = append(p.Cmds, n.Command.Target.Interface())
			}
		}
	}
	return p, kctx
}

// A call is parsed against a tree of its own command and the global flags
// only, and decides what the whole tree decides: the same command, flags,
// arguments, errors and output.
func TestParseOneCommand(t *testing.T) {
	for _, k := range []string{"DOCKERBRIDGE_PROJECT", "DOCKERBRIDGE_DOCKER", "DOCKERBRIDGE_STATE_DIR", "DOCKERBRIDGE_IMAGE", "DOCKERBRIDGE_HARDEN"} {
		t.Setenv(k, "") // restored at the end
		os.Unsetenv(k)
	}
	for _, tc := range []struct {
		args []string
		// one: parsed against a tree of one command (or none, for the
		// version); else against the whole tree.
		one bool
	}{
		{[]string{"exec", "--", "true"}, true},
		{[]string{"-p", "web", "--path", "/srv", "exec", "--", "ls", "-la"}, true},
		{[]string{"-p", "exec", "exec", "true"}, true},
		{[]string{"--project=web", "--json", "exec", "-e", "A=1", "--", "true"}, true},
		{[]string{"-vp", "web", "read", "a.txt"}, true},
		{[]string{"-pweb", "read", "a.txt"}, true},
		{[]string{"write", "f", "-p", "web", "--timeout", "5s"}, true},
		{[]string{"--no-init", "--harden", "start"}, true},
		{[]string{"tmux", "send", "s1", "echo hi"}, true},
		{[]string{"tmux", "wait-prompt", "s1", `\$ $`, "--timeout", "3s"}, true},
		{[]string{"snapshot"}, true},
		{[]string{"snapshot", "ls"}, true},
		{[]string{"job", "start", "j1", "--", "sleep", "1"}, true},
		{[]string{"ps"}, true},
		{[]string{"--version"}, true},
		{[]string{"exec", "--version"}, true},
		// A command's own words may look like help.
		{[]string{"exec", "du", "-sh", "."}, true},
		{[]string{"exec", "ls", "-h", "--help"}, true},
		{[]string{"job", "start", "j1", "free", "-h"}, true},
		{[]string{"-p", "home", "exec", "--", "-h"}, true},
		// Help, and whatever the small tree rejects, go through the whole.
		{[]string{"--help"}, false},
		{[]string{"exec", "--help"}, false},
		{[]string{"-h", "exec", "true"}, false},
		{[]string{"-vh"}, false},
		{[]string{"tmux", "-h"}, false},
		{[]string{"tmux", "send", "--help"}, false},
		{[]string{"--version", "--help"}, false},
		{[]string{}, false},
		{[]string{"nosuch"}, false},
		{[]string{"exec", "--nosuch"}, false},
		{[]string{"tmux"}, false},
		{[]string{"-p"}, false},
		{[]string{"--timeout", "x", "ps"}, false},
		{[]string{"--json", "exec"}, true},
		{[]string{"--path", "exec", "start"}, true},
		{[]string{"--path", "exec", "--json"}, false},
		{[]string{"--", "exec"}, false},
		// Checks of the global flags and of the command's run with the
		// small tree too.
		{[]string{"--mount", "/a", "exec", "true"}, false},
		{[]string{"--container-prefix=", "ps"}, false},
		{[]string{"--timeout", "0s", "exec", "true"}, false},
		{[]string{"tmux", "new", "bad name!"}, false},
		{[]string{"tmux", "new", "s1", "--size", "80x24"}, true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			want, _ := parseWith(t, tc.args, true)
			got, kctx := parseWith(t, tc.args, false)
			if diff := cmp.Diff(want, got, cmp.Exporter(func(reflect.Type) bool { return true })); diff != "" {
				t.Errorf("parse differs from the whole tree's (-whole +parse):\n%s", diff)
			}
			if kctx == nil {
				return
			}
			var names []string
			for _, c := range kctx.Model.Children {
				names = append(names, c.Name)
			}
			one := len(names) <= 1
			if one != tc.one {
				t.Errorf("parsed against the commands %q, want one command: %v", names, tc.one)
			}
			if one && got.Command != "" && !strings.HasPrefix(got.Command+" ", names[0]+" ") {
				t.Errorf("command %q parsed against a tree of %q", got.Command, names)
			}
		})
	}
}

// Every command, by each of its names, gets a tree of its own: a command
// whose name the small tree does not know would cost every call of it the
// whole tree.
func TestOneCommandKnowsEveryCommand(t *testing.T) {
	var cli CLI
	whole, err := kong.New(&cli, kongOptions(nil, nil, func(int) {})...)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Model.Children) < 10 {
		t.Fatalf("the whole tree has %d commands", len(whole.Model.Children))
	}
	for _, c := range whole.Model.Children {
		for _, name := range append([]string{c.Name}, c.Aliases...) {
			typ := oneCommand([]string{"-p", "x", name})
			if typ == nil {
				t.Errorf("%s: no tree of its own", name)
				continue
			}
			k, err := kong.New(reflect.New(typ).Interface(), options(varsOf(typ), nil, nil, func(int) {})...)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			var got []string
			for _, n := range k.Model.Children {
				got = append(got, n.Name)
			}
			if !slices.Equal(got, []string{c.Name}) {
				t.Errorf("%s: a tree of the commands %q, want [%s]", name, got, c.Name)
			}
			if len(k.Model.Flags) != len(whole.Model.Flags) {
				t.Errorf("%s: %d global flags, want %d", name, len(k.Model.Flags), len(whole.Model.Flags))
			}
		}
	}
}

// The global flags' defaults are written in their tags; they must be
// bridge's own, in the whole tree and in a command's own.
func TestGlobalDefaultsAreBridges(t *testing.T) {
	want := Globals{
		Image: bridge.DefaultImage, Memory: bridge.DefaultMemory, CPUs: bridge.DefaultCPUs,
		Network: bridge.DefaultNetwork, Restart: bridge.DefaultRestart,
		EngineTimeout: bridge.DefaultEngineDeadline, ContainerPrefix: bridge.DefaultPrefix,
	}
	for _, k := range []string{"DOCKERBRIDGE_IMAGE", "DOCKERBRIDGE_DOCKER", "DOCKERBRIDGE_PROJECT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	args := []string{"-p", "x", "status"}
	exit := func(c int) { t.Fatalf("exit %d", c) }
	whole, _, err := parseWhole(args, kongOptions(io.Discard, io.Discard, exit))
	if err != nil {
		t.Fatal(err)
	}
	one, _, err := parse(args, io.Discard, io.Discard, exit)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*Globals{"whole tree": whole, "status's tree": one} {
		got := Globals{
			Image: g.Image, Memory: g.Memory, CPUs: g.CPUs, Network: g.Network, Restart: g.Restart,
			EngineTimeout: g.EngineTimeout, ContainerPrefix: g.ContainerPrefix,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: defaults %+v, want %+v", name, got, want)
		}
	}
}
