package dockercli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzz targets parse each builder's argv back the way docker's flag
// parser reads it and require the very values that went in: every string a
// caller gives is one whole element in its own place, whatever it holds. The
// builders' one precondition, stated in their docs, is that the image and
// the container names are not options; bridge checks them before any call.

// dockerFlags splits args as docker's flag parser does with interspersed
// flags off: a flag with a value takes the next element, whatever it holds;
// "--" or the first element that is not a flag ends the flags.
func dockerFlags(args []string, valued, boolean map[string]bool) (flags [][2]string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, args[i+1:], nil
		case valued[a]:
			if i+1 == len(args) {
				return nil, nil, fmt.Errorf("flag %s has no value", a)
			}
			flags = append(flags, [2]string{a, args[i+1]})
			i++
		case boolean[a]:
			flags = append(flags, [2]string{a, ""})
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, nil, fmt.Errorf("unknown flag %q", a)
		default:
			return flags, args[i:], nil
		}
	}
	return flags, nil, nil
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

var runValued = set("--name", "--user", "-e", "-v", "-w", "--network", "--restart", "--memory", "--cpus", "--label")

// parseRun reads a docker run -d argv back into a RunSpec.
func parseRun(argv []string) (RunSpec, error) {
	if len(argv) < 2 || argv[0] != "run" || argv[1] != "-d" {
		return RunSpec{}, fmt.Errorf("not a docker run -d: %q", argv)
	}
	flags, rest, err := dockerFlags(argv[2:], runValued, set("--init"))
	if err != nil {
		return RunSpec{}, err
	}
	var s RunSpec
	for _, f := range flags {
		switch f[0] {
		case "--name":
			s.Name = f[1]
		case "--user":
			s.User = f[1]
		case "-e":
			s.Env = append(s.Env, f[1])
		case "-v":
			s.Mounts = append(s.Mounts, f[1])
		case "-w":
			s.Workdir = f[1]
		case "--network":
			s.Network = f[1]
		case "--restart":
			s.Restart = f[1]
		case "--memory":
			s.Memory = f[1]
		case "--cpus":
			s.CPUs = f[1]
		case "--label":
			s.Labels = append(s.Labels, f[1])
		case "--init":
			s.Init = true
		}
	}
	if len(rest) == 0 {
		return RunSpec{}, fmt.Errorf("no image in %q", argv)
	}
	s.Image, s.Command = rest[0], rest[1:]
	return s, nil
}

func FuzzRunArgs(f *testing.F) {
	f.Add("luzia-web", "1000:1000", "A=1 --privileged", "/home/web:/workspace", "/tmp:/x --privileged", "/workspace",
		"host", "unless-stopped", "2g", "2", "luzia.project=web\n--privileged", "luzia-sandbox:latest", "tail", true)
	f.Add("", "", "", "", "", "", "", "", "", "", "", "img", "", false)
	f.Add("-x", "--user", "-e", "-v", "--", "-w", "--network=host", "--privileged", "-m", "--cpus", "--label", "i", "--rm", false)
	f.Fuzz(func(t *testing.T, name, user, env, mount0, mount1, workdir, network, restart, memory, cpus, label, image, command string, init bool) {
		if image == "" || strings.HasPrefix(image, "-") {
			return // the precondition: bridge refuses such an image
		}
		spec := RunSpec{
			Name: name, User: user, Env: []string{env, env + "2"}, Mounts: []string{mount0, mount1}, Workdir: workdir,
			Network: network, Restart: restart, Memory: memory, CPUs: cpus, Init: init,
			Labels: []string{label, "luzia.created=x"}, Image: image, Command: []string{command, "-f", command},
		}
		got, err := parseRun(spec.Args())
		if err != nil {
			t.Fatalf("(%+v).Args(): %v", spec, err)
		}
		if diff := cmp.Diff(spec, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("docker would read another run than was built (-want +got):\n%s", diff)
		}
	})
}

// parseExec reads a docker exec argv back into an ExecSpec.
func parseExec(argv []string) (ExecSpec, error) {
	if len(argv) < 1 || argv[0] != "exec" {
		return ExecSpec{}, fmt.Errorf("not a docker exec: %q", argv)
	}
	flags, rest, err := dockerFlags(argv[1:], set("-e", "--user", "-w"), set("-i"))
	if err != nil {
		return ExecSpec{}, err
	}
	var s ExecSpec
	for _, f := range flags {
		switch f[0] {
		case "-i":
			s.Interactive = true
		case "-e":
			s.Env = append(s.Env, f[1])
		case "--user":
			s.User = f[1]
		case "-w":
			s.Workdir = f[1]
		}
	}
	if len(rest) == 0 {
		return ExecSpec{}, fmt.Errorf("no container in %q", argv)
	}
	s.Container, s.Command = rest[0], rest[1:]
	return s, nil
}

func FuzzExecArgs(f *testing.F) {
	f.Add("luzia-web", true, "DOCKERBRIDGE_EXEC_ID=1", "1000:1000", "/workspace", "bash", "echo hi; rm -rf /")
	f.Add("c", false, "-i", "--user", "-w", "--", "--privileged")
	f.Add("c", false, "", "", "", "", "")
	f.Fuzz(func(t *testing.T, container string, interactive bool, env, user, workdir, cmd0, cmd1 string) {
		if container == "" || strings.HasPrefix(container, "-") {
			return // the precondition: bridge validates container names
		}
		spec := ExecSpec{
			Container: container, Interactive: interactive, Env: []string{env}, User: user, Workdir: workdir,
			Command: []string{cmd0, "-c", cmd1, "bash", cmd1},
		}
		got, err := parseExec(spec.Args())
		if err != nil {
			t.Fatalf("(%+v).Args(): %v", spec, err)
		}
		if diff := cmp.Diff(spec, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("docker would read another exec than was built (-want +got):\n%s", diff)
		}
	})
}

// The control calls: inspect, ps, start, stop and rm.
func FuzzControlArgs(f *testing.F) {
	f.Add("{{.Name}}", "luzia-web", "luzia-x", "luzia.project=web", int64(10))
	f.Add("", "a", "b", "", int64(-1))
	f.Add("--format", "c", "d", "x\n--filter", int64(1<<40))
	f.Fuzz(func(t *testing.T, format, name1, name2, label string, graceSec int64) {
		for _, n := range []string{name1, name2} {
			if n == "" || strings.HasPrefix(n, "-") {
				return // the precondition: names are validated container names
			}
		}
		names := []string{name1, name2}

		flags, rest, err := dockerFlags(InspectArgs(format, names...)[2:], set("--format"), nil)
		wantFlags := [][2]string{}
		if format != "" {
			wantFlags = append(wantFlags, [2]string{"--format", format})
		}
		if err != nil || cmp.Diff(wantFlags, flags, cmpopts.EquateEmpty()) != "" || cmp.Diff(names, rest) != "" {
			t.Errorf("inspect argv %q reads as flags %q, names %q (%v)", InspectArgs(format, names...), flags, rest, err)
		}

		ps := PsArgs(true, format, label, "luzia.created")
		flags, rest, err = dockerFlags(ps[1:], set("--filter", "--format"), set("-a", "--no-trunc"))
		want := [][2]string{{"-a", ""}, {"--filter", "label=" + label}, {"--filter", "label=luzia.created"}, {"--no-trunc", ""}}
		if format != "" {
			want = append(want, [2]string{"--format", format})
		}
		if err != nil || len(rest) != 0 {
			t.Fatalf("ps argv %q: rest %q, %v", ps, rest, err)
		}
		if diff := cmp.Diff(want, flags); diff != "" {
			t.Errorf("ps argv %q (-want +got):\n%s", ps, diff)
		}

		for _, argv := range [][]string{StartArgs(names...), RmArgs(names...), StopArgs(time.Duration(graceSec)*time.Second, names...)} {
			flags, rest, err := dockerFlags(argv[1:], set("-t"), set("-f"))
			if err != nil || cmp.Diff(names, rest) != "" {
				t.Errorf("%s argv %q reads as flags %q, names %q (%v)", argv[0], argv, flags, rest, err)
			}
		}
	})
}

// The parsers above catch what the fuzz targets look for: a value split in
// two, a value glued to its flag, and an image that docker would take for a
// flag.
func TestParseRunCatchesSmuggling(t *testing.T) {
	spec := RunSpec{Name: "n", Mounts: []string{"/tmp:/x"}, Image: "img"}
	for name, argv := range map[string][]string{
		"split value":   {"run", "-d", "--name", "n", "-v", "/tmp:/x", "--privileged", "img"},
		"glued value":   {"run", "-d", "--name=n", "-v", "/tmp:/x", "img"},
		"image as flag": {"run", "-d", "--name", "n", "-v", "/tmp:/x", "--rm"},
	} {
		got, err := parseRun(argv)
		if err == nil && cmp.Diff(spec, got, cmpopts.EquateEmpty()) == "" {
			t.Errorf("%s: %q parsed as the intended spec", name, argv)
		}
	}
	if got, err := parseRun(spec.Args()); err != nil || cmp.Diff(spec, got, cmpopts.EquateEmpty()) != "" {
		t.Errorf("parseRun((%+v).Args()) = %+v, %v", spec, got, err)
	}
}
