package dockertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Cmds are the script commands that set up and inspect the engine of a
// scenario whose environment Setup made.
var Cmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// dockerlog prints the docker log with unstable parts masked.
	"dockerlog": cmdDockerlog,
	// fakestate adds a container to the fake engine, or prints them all.
	"fakestate": cmdState,
	// fakeresp queues a canned answer for the next call of a docker verb.
	"fakeresp": cmdResp,
}

// cmdDockerlog prints $FAKEDOCKER_LOG for cmp: $WORK becomes "$WORK",
// and these become placeholders: the exec id (also as the kill script's
// argument), the created label's time (only when it has the ISO form the
// original writes), and each multi-line "-c" script. With -raw it prints the
// log as it is.
func cmdDockerlog(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! dockerlog")
	}
	raw := len(args) == 1 && args[0] == "-raw"
	if len(args) > 0 && !raw {
		ts.Fatalf("usage: dockerlog [-raw]")
	}
	out := ts.Stdout() // even empty, it replaces the last command's stdout
	b, err := os.ReadFile(ts.Getenv("FAKEDOCKER_LOG"))
	if errors.Is(err, os.ErrNotExist) {
		return // no docker call at all
	}
	ts.Check(err)
	if raw {
		fmt.Fprint(out, string(b))
		return
	}
	masked, err := MaskLog(string(b), ts.Getenv("WORK"))
	ts.Check(err)
	fmt.Fprint(out, masked)
}

var (
	createdRE = regexp.MustCompile(`^luzia\.created=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`)
	execIDRE  = regexp.MustCompile(`^(DOCKERBRIDGE_EXEC_ID=)?[0-9a-f]{24}$`)
)

func MaskLog(log, work string) (string, error) {
	var out strings.Builder
	for _, line := range strings.SplitAfter(log, "\n") {
		if line == "" {
			continue
		}
		args, err := splitQuoted(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return "", err
		}
		for i, a := range args {
			if i > 0 {
				out.WriteByte(' ')
			}
			script := func(j int) bool { return j > 0 && args[j-1] == "-c" && strings.Contains(args[j], "\n") }
			numeric := a != "" && strings.Trim(a, "0123456789") == ""
			switch {
			case script(i):
				out.WriteString("<script>")
			case numeric && i >= 2 && args[i-1] == "dockerbridge" && script(i-2):
				// The wrapper's deadline: whole seconds left, which a slow
				// cold start can lower by one.
				out.WriteString(strconv.Quote("<T>"))
			case numeric && i >= 3 && args[i-2] == "bash" && script(i-3):
				// The kill script's second argument: the wrapper's pid.
				out.WriteString(strconv.Quote("<PID>"))
			case createdRE.MatchString(a):
				out.WriteString(strconv.Quote("luzia.created=<ISO>"))
			case strings.HasPrefix(a, "dockerbridge.fingerprint="):
				// A hash of settings that hold $WORK: it differs each run.
				out.WriteString(strconv.Quote("dockerbridge.fingerprint=<FP>"))
			case execIDRE.MatchString(a):
				out.WriteString(strconv.Quote(a[:len(a)-24] + "<ID>"))
			default:
				if work != "" {
					a = strings.ReplaceAll(a, work, "$WORK")
				}
				out.WriteString(strconv.Quote(a))
			}
		}
		out.WriteByte('\n')
	}
	return out.String(), nil
}

// splitQuoted reads back a log line of %q elements.
func splitQuoted(line string) ([]string, error) {
	var args []string
	for line != "" {
		q, err := strconv.QuotedPrefix(line)
		if err != nil {
			return nil, fmt.Errorf("docker log line %q: %w", line, err)
		}
		a, _ := strconv.Unquote(q)
		args = append(args, a)
		line = strings.TrimPrefix(line[len(q):], " ")
	}
	return args, nil
}

// cmdState with no arguments prints "NAME STATE" for each container, by
// name. Otherwise it adds one:
//
//	fakestate [-nolabels] NAME running|stopped|created [key=value...]
//
// Keys: path=DIR (mounted at /workspace, the working directory), mount=SRC:DST,
// image=, user=, label=K=V, id=, exit=N, and created= and started= as RFC 3339
// times or as negative durations from now (started=-2h). Otherwise the
// container is what dockerbridge's default docker run makes, and a name
// luzia-P gets the labels luzia.project=P and luzia.created unless -nolabels
// is given.
func cmdState(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fakestate")
	}
	dir := stateDir(ts.Getenv("FAKEDOCKER_STATE"))
	if len(args) == 0 {
		out := ts.Stdout()
		st, err := dir.load()
		ts.Check(err)
		list := append([]*Container{}, st.Containers...)
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		for _, c := range list {
			state := c.status()
			if state == "exited" {
				state = "stopped"
			}
			fmt.Fprintf(out, "%s %s\n", c.Name, state)
		}
		return
	}
	usage := "usage: fakestate [-nolabels] NAME running|stopped|created [key=value...]"
	labels := true
	if args[0] == "-nolabels" {
		labels, args = false, args[1:]
	}
	if len(args) < 2 {
		ts.Fatalf("%s", usage)
	}
	now := time.Now().UTC()
	c := Default(args[0], "", now)
	started := now
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("fakestate: %q is not key=value; %s", kv, usage)
		}
		switch k {
		case "path":
			c.Mounts = append(c.Mounts, Mount{Source: ts.MkAbs(v), Destination: "/workspace"})
			c.Workdir = "/workspace"
		case "mount":
			m, err := ParseVolume(v)
			ts.Check(err)
			c.Mounts = append(c.Mounts, m)
		case "image":
			c.Image = v
		case "user":
			c.User = v
		case "label":
			lk, lv, _ := strings.Cut(v, "=")
			c.Labels[lk] = lv
		case "id":
			c.ID = v
		case "exit":
			n, err := strconv.Atoi(v)
			ts.Check(err)
			c.ExitCode = n
		case "created", "started":
			t, err := parseTime(v, now)
			if err != nil {
				ts.Fatalf("fakestate: %s: %v", k, err)
			}
			if k == "created" {
				c.Created = t
			} else {
				started = t
			}
		default:
			ts.Fatalf("fakestate: unknown key %q; %s", k, usage)
		}
	}
	if project, ok := strings.CutPrefix(c.Name, "luzia-"); ok && labels {
		c.Labels["luzia.project"] = project
		c.Labels["luzia.created"] = c.Created.Local().Format("2006-01-02T15:04:05.000000")
	}
	switch args[1] {
	case "running":
		c.Running, c.Started = true, started
	case "stopped":
		c.Started, c.Finished = started, started
		if c.ExitCode == 0 {
			c.ExitCode = 143
		}
	case "created":
	default:
		ts.Fatalf("%s", usage)
	}
	ts.Check((&Engine{Dir: string(dir)}).Add(c))
}

// parseTime reads an RFC 3339 time, or a negative duration from now.
func parseTime(v string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(v, "-") {
		d, err := time.ParseDuration(v)
		return now.Add(d), err
	}
	return time.Parse(time.RFC3339Nano, v)
}

// cmdResp queues a canned answer:
//
//	fakeresp [-apply] VERB EXIT [STDERR]
//
// The next docker call whose verb is VERB ("exec", "run", "container
// inspect", ...) prints STDERR (a line, or @FILE for a file's content) and
// exits EXIT instead of doing its work. With -apply the call's work is done
// first, silently: a run that finds the name taken by a racing creator. An
// answer still queued when the script ends fails it.
func cmdResp(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fakeresp")
	}
	r := Canned{}
	if len(args) > 0 && args[0] == "-apply" {
		r.Apply, args = true, args[1:]
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: fakeresp [-apply] VERB EXIT [STDERR|@FILE]")
	}
	r.Verb = args[0]
	code, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("fakeresp: exit code %q: %v", args[1], err)
	}
	r.Exit = code
	if len(args) == 3 {
		if file, ok := strings.CutPrefix(args[2], "@"); ok {
			r.Stderr = ts.ReadFile(file)
		} else {
			r.Stderr = args[2] + "\n"
		}
	}
	ts.Check((&Engine{Dir: ts.Getenv("FAKEDOCKER_STATE")}).Answer(r))
}

// unusedCanned lists the canned answers no docker call consumed.
func unusedCanned(dir string) ([]Canned, error) {
	var queue []Canned
	err := stateDir(dir).loadJSON("canned.json", &queue)
	return slices.DeleteFunc(queue, func(r Canned) bool { return !r.unused() }), err
}

// Setup makes a scenario's environment the engine's: its state under
// $WORK/.fakedocker, its log in $WORK/docker.log, and a canned answer that
// no call used fails the scenario when it ends.
func Setup(env *testscript.Env) {
	env.Setenv("FAKEDOCKER_STATE", filepath.Join(env.WorkDir, ".fakedocker"))
	env.Setenv("FAKEDOCKER_LOG", filepath.Join(env.WorkDir, "docker.log"))
	env.Defer(func() { checkCanned(env) })
}

// checkCanned fails the script when a canned answer was never used: the
// scenario did not go the way it claims.
func checkCanned(env *testscript.Env) {
	queue, err := unusedCanned(env.Getenv("FAKEDOCKER_STATE"))
	if err != nil {
		env.T().Fatal(err)
	}
	for _, r := range queue {
		env.T().Log(fmt.Sprintf("fakeresp: unused: docker %s -> exit %d, stderr %q", r.Verb, r.Exit, r.Stderr))
	}
	if len(queue) > 0 {
		env.T().Fatal("fakeresp: a canned docker answer was never used: the scenario did not take the path it claims")
	}
}
