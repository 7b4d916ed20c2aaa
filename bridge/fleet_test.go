package bridge

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// fakeFleet is a set of in-process docker engines told apart by the
// --context flag: each keeps its containers and its size. It speaks only
// what the fleet asks (info, ps, inspect, run, start, stop, exec of the
// start's mkdir); anything else fails the test.
type fakeFleet struct {
	t  *testing.T
	mu sync.Mutex
	// engines by context name.
	engines map[string]*fakeNode
	runs    int
	calls   []string // "engine verb"
	// missing are bind sources that do not exist on any engine's host.
	missing map[string]bool
}

type fakeNode struct {
	cpus int
	mem  int64
	hang bool // answers nothing until the call's context ends
	// flip makes each docker info answer alternate between a big engine
	// and a small one, so that two placements never agree by chance.
	flip       bool
	infos      int
	containers map[string]*fakeBox
}

type fakeBox struct {
	running bool
	project string
	nano    int64
	mem     int64
}

func newFakeFleet(t *testing.T, names ...string) *fakeFleet {
	f := &fakeFleet{t: t, engines: map[string]*fakeNode{}, missing: map[string]bool{}}
	for _, n := range names {
		f.engines[n] = &fakeNode{cpus: 8, mem: 16 << 30, containers: map[string]*fakeBox{}}
	}
	return f
}

func (f *fakeFleet) fleet(st *State) *Fleet {
	engines := make([]string, 0, len(f.engines))
	for n := range f.engines {
		engines = append(engines, n)
	}
	slices.Sort(engines)
	return &Fleet{Engines: engines, State: st, Deadline: 2 * time.Second, Client: func(e string) *dockercli.Client {
		return &dockercli.Client{Runner: f, Context: e}
	}}
}

// where lists, per engine, the containers it holds.
func (f *fakeFleet) where() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for e, n := range f.engines {
		for name := range n.containers {
			out[e] = append(out[e], name)
		}
		slices.Sort(out[e])
	}
	return out
}

func (f *fakeFleet) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	if c.Args[0] != "docker" {
		return 1, nil // id and getent know no project user
	}
	args := c.Args[1:]
	if len(args) < 2 || args[0] != "--context" {
		f.t.Errorf("call without --context: %q", c.Args)
		return 1, nil
	}
	f.mu.Lock()
	n := f.engines[args[1]]
	args = args[2:]
	f.calls = append(f.calls, c.Args[2]+" "+args[0])
	hang := n != nil && n.hang
	f.mu.Unlock()
	if n == nil {
		fmt.Fprintf(c.Stderr, "context %q does not exist\n", c.Args[2])
		return 1, nil
	}
	if hang {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := func(s string) {
		if c.Stdout != nil {
			io.WriteString(c.Stdout, s)
		}
	}
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	switch args[0] {
	case "info":
		cpus := n.cpus
		if n.flip {
			n.infos++
			cpus = []int{2, 64}[n.infos%2]
		}
		out(fmt.Sprintf("%d\t%d\n", cpus, n.mem))
	case "ps":
		all := slices.Contains(args, "-a")
		names := mapsKeys(n.containers)
		slices.Sort(names)
		for _, name := range names {
			b := n.containers[name]
			if !all && !b.running {
				continue
			}
			state := map[bool]string{true: "running", false: "exited"}[b.running]
			switch flag("--format") {
			case "{{.ID}}":
				out(name + "\n")
			case `{{.Names}}\t{{.State}}\t{{.Label "` + ProjectLabel + `"}}`:
				out(name + "\t" + state + "\t" + b.project + "\n")
			case `{{.Names}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Label "` + ProjectLabel + `"}}`:
				out(name + "\t" + state + "\tcreated\t" + b.project + "\n")
			default:
				f.t.Errorf("ps format %q", flag("--format"))
			}
		}
	case "container":
		format := flag("--format")
		names := args[4:]
		code := 0
		for _, name := range names {
			b := n.containers[name]
			if b == nil {
				fmt.Fprintf(c.Stderr, "Error: No such container: %s\n", name)
				code = 1
				continue
			}
			switch format {
			case `{{.Name}}{{"\t"}}{{index .Config.Labels "` + ProjectLabel + `"}}`:
				out("/" + name + "\t" + b.project + "\n")
			case `{{.HostConfig.NanoCpus}}{{"\t"}}{{.HostConfig.Memory}}`:
				out(fmt.Sprintf("%d\t%d\n", b.nano, b.mem))
			case "{{.State.Status}}":
				out(map[bool]string{true: "running", false: "exited"}[b.running] + "\n")
			case `{{.Name}}{{"\t"}}{{.State.StartedAt}}{{"\t"}}{{len .ExecIDs}}`:
				out("/" + name + "\t2000-01-01T00:00:00Z\t0\n")
			default:
				f.t.Errorf("inspect format %q", format)
			}
		}
		return code, nil
	case "run":
		name := flag("--name")
		if _, ok := n.containers[name]; ok {
			fmt.Fprintf(c.Stderr, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"x\".\n", name)
			return 125, nil
		}
		if m := flag("--mount"); m != "" {
			for _, field := range strings.Split(m, ",") {
				if src, ok := strings.CutPrefix(field, "source="); ok && f.missing[src] {
					fmt.Fprintf(c.Stderr, "docker: Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: %s.\n", src)
					return 125, nil
				}
			}
		}
		b := &fakeBox{running: true}
		for i, a := range args {
			if a == "--label" {
				if p, ok := strings.CutPrefix(args[i+1], ProjectLabel+"="); ok {
					b.project = p
				}
			}
		}
		cpus, _ := strconv.ParseFloat(flag("--cpus"), 64)
		b.nano, b.mem = int64(cpus*1e9), int64(memoryBytes(flag("--memory")))
		n.containers[name] = b
		f.runs++
		out("id\n")
	case "start":
		for _, name := range args[1:] {
			n.containers[name].running = true
		}
	case "stop":
		rest := args[1:]
		if len(rest) > 1 && rest[0] == "-t" {
			rest = rest[2:]
		}
		for _, name := range rest {
			if b := n.containers[name]; b != nil {
				b.running = false
				out(name + "\n")
			}
		}
	case "exec":
		// The start's mkdir of /workspace/.tmp.
	default:
		f.t.Errorf("unexpected docker call %q", c.Args)
		return 1, nil
	}
	return 0, nil
}

func mapsKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// fleetBridge is project's bridge in the fleet, with a workspace.
func fleetBridge(t *testing.T, ff *fakeFleet, st *State, project string) *Bridge {
	t.Helper()
	b, err := New(Config{Project: project, HostPath: t.TempDir(), RemoteEngine: true}, &dockercli.Client{Runner: ff}, ff, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UseFleet(context.Background(), ff.fleet(st), ""); err != nil {
		t.Fatal(err)
	}
	return b
}

func newState(t *testing.T) *State {
	t.Helper()
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFleetPlacesTwoAndTwo(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	// Room for two 2-CPU containers on each engine.
	for _, n := range ff.engines {
		n.cpus, n.mem = 4, 8<<30
	}
	st := newState(t)
	for _, p := range []string{"p1", "p2", "p3", "p4"} {
		b := fleetBridge(t, ff, st, p)
		if _, err := b.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got := ff.where()
	if len(got["a"]) != 2 || len(got["b"]) != 2 {
		t.Fatalf("containers per engine = %v, want two and two", got)
	}
}

func TestFleetPlacesByRoom(t *testing.T) {
	need := NeedOf("2", "2g")
	loads := []EngineLoad{
		{Engine: "small", CPUs: 4, Memory: 64 << 30},
		{Engine: "big", CPUs: 16, Memory: 64 << 30, UsedCPUs: 4, UsedMemory: 4 << 30, Containers: 2},
		{Engine: "tight-memory", CPUs: 64, Memory: 4 << 30},
	}
	if got, _ := Choose(loads, need); got != "big" {
		t.Errorf("Choose = %s, want big (most room by the scarcer of CPU and memory)", got)
	}
	tie := []EngineLoad{
		{Engine: "a", CPUs: 4, Memory: 8 << 30, UsedCPUs: 2, UsedMemory: 2 << 30, Containers: 2},
		{Engine: "b", CPUs: 4, Memory: 8 << 30, UsedCPUs: 2, UsedMemory: 2 << 30, Containers: 1},
	}
	if got, _ := Choose(tie, need); got != "b" {
		t.Errorf("Choose on a tie = %s, want b (fewer containers)", got)
	}
	if _, ok := Choose(nil, need); ok {
		t.Error("Choose of no engine found one")
	}
}

func TestFleetKeepsEngine(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	ff.engines["b"].containers["luzia-p"] = &fakeBox{running: true, project: "p"}
	b := fleetBridge(t, ff, st, "p")
	if b.Engine() != "b" {
		t.Fatalf("engine = %q, want b, which has the container", b.Engine())
	}
	// The state directory remembers it: the next call asks no engine.
	ff.calls = nil
	b = fleetBridge(t, ff, st, "p")
	if b.Engine() != "b" || len(ff.calls) != 0 {
		t.Fatalf("second call: engine %q after calls %q, want b after none", b.Engine(), ff.calls)
	}
	// A wiped state directory: found again, not placed anew.
	st2 := newState(t)
	b = fleetBridge(t, ff, st2, "p")
	if b.Engine() != "b" {
		t.Fatalf("after a wipe: engine %q, want b", b.Engine())
	}
	if _, err := b.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ff.runs != 0 {
		t.Fatalf("%d containers made, want none", ff.runs)
	}
}

func TestFleetLookOnlyPlacesNothing(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	f := ff.fleet(st)
	f.LookOnly = true
	engine, placed, err := f.Resolve(context.Background(), "luzia-p", "p", NeedOf("2", "2g"))
	if err != nil || placed || engine != "a" {
		t.Fatalf("Resolve = %q, %v, %v; want the first engine, not placed", engine, placed, err)
	}
	if _, ok := st.Engine("luzia-p"); ok {
		t.Error("a lookup of a missing project recorded an engine")
	}
	for _, c := range ff.calls {
		if strings.HasSuffix(c, " info") {
			t.Errorf("a lookup asked for the engines' size: %q", ff.calls)
			break
		}
	}
}

func TestFleetRecheckWhenMissing(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	// The record says a, but the container is on b now.
	if err := st.SetEngine("luzia-p", "a"); err != nil {
		t.Fatal(err)
	}
	ff.engines["b"].containers["luzia-p"] = &fakeBox{running: false, project: "p"}
	b := fleetBridge(t, ff, st, "p")
	started, err := b.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !started || b.Engine() != "b" || ff.runs != 0 {
		t.Fatalf("started %v on %q with %d runs, want the container on b started, none made", started, b.Engine(), ff.runs)
	}
	if e, _ := st.Engine("luzia-p"); e != "b" {
		t.Fatalf("recorded engine %q, want b", e)
	}
	// A container of the same name with another project's label is not
	// the project's.
	ff.engines["a"].containers["luzia-q"] = &fakeBox{running: true, project: "other"}
	if found, errs := ff.fleet(st).Find(context.Background(), "luzia-q", "q"); len(found) != 0 || len(errs) != 0 {
		t.Fatalf("Find(luzia-q) = %v, %v; want nothing", found, errs)
	}
}

func TestFleetConcurrentColdStart(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	ff.engines["a"].flip = true
	st := newState(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := New(Config{Project: "p", HostPath: t.TempDir(), RemoteEngine: true}, &dockercli.Client{Runner: ff}, ff, st)
			if err == nil {
				err = b.UseFleet(context.Background(), ff.fleet(st), "")
			}
			if err == nil {
				_, err = b.Ensure(context.Background())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := ff.where()
	if n := len(got["a"]) + len(got["b"]); n != 1 || ff.runs != 1 {
		t.Fatalf("containers %v after %d runs, want exactly one", got, ff.runs)
	}
}

func TestFleetUnansweredEngine(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	ff.engines["a"].containers["luzia-p1"] = &fakeBox{running: true, project: "p1"}
	ff.engines["b"].containers["luzia-p2"] = &fakeBox{running: true, project: "p2"}
	ff.engines["b"].hang = true
	f := ff.fleet(st)
	f.Deadline = 200 * time.Millisecond
	done := make(chan struct{})
	var rows []Container
	var errs []error
	go func() {
		rows, errs = f.List(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("List waited on the engine that does not answer")
	}
	if len(rows) != 1 || rows[0].Name != "luzia-p1" || rows[0].Engine != "a" {
		t.Errorf("rows = %+v, want luzia-p1 on a", rows)
	}
	var ee *EngineError
	if errs[0] != nil || !errors.As(errs[1], &ee) || ee.Engine != "b" {
		t.Errorf("errors = %v, want none for a and one for b", errs)
	}
	// A project on no engine that answered is not placed: it may live on b.
	b, err := New(Config{Project: "p3", HostPath: t.TempDir(), RemoteEngine: true}, &dockercli.Client{Runner: ff}, ff, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UseFleet(context.Background(), f, ""); err == nil || !strings.Contains(err.Error(), "engine b") {
		t.Errorf("UseFleet with b silent = %v, want an error naming b", err)
	}
	if ff.runs != 0 {
		t.Errorf("%d containers made while b was silent", ff.runs)
	}
}

func TestFleetReapBoth(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	ff.engines["a"].containers["luzia-p1"] = &fakeBox{running: true, project: "p1"}
	ff.engines["b"].containers["luzia-p2"] = &fakeBox{running: true, project: "p2"}
	res, errs := ff.fleet(st).Reap(context.Background(), Reaper{State: st, Idle: time.Minute, Prefix: DefaultPrefix})
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatal(errs)
	}
	slices.Sort(res.Stopped)
	if !slices.Equal(res.Stopped, []string{"luzia-p1", "luzia-p2"}) || res.Checked != 2 {
		t.Fatalf("reap = %+v, want both stopped", res)
	}
	if len(res.Engines) != 2 || res.Engines[0].Engine != "a" || res.Engines[1].Engine != "b" {
		t.Fatalf("engine rows = %+v", res.Engines)
	}
}

func TestFleetMissingWorkspace(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	b := fleetBridge(t, ff, st, "p")
	ff.missing[b.Config().HostPath] = true
	_, err := b.Ensure(context.Background())
	if !errors.Is(err, dockercli.ErrBindSource) || !strings.Contains(err.Error(), "does not exist on engine "+b.Engine()) {
		t.Fatalf("Ensure = %v, want the missing workspace named with its engine", err)
	}
	if _, ok := st.Engine("luzia-p"); ok {
		t.Error("a failed placement stays recorded")
	}
}

func TestCopyTarRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "d")
	files := map[string]string{
		"bin":            "\x00\x01\xff\xfe binary",
		"sub/new\nline":  "a file name with a newline",
		"sub/deep/x.txt": "x",
	}
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("bin", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, _, err := writeTar(&buf, src, "d", 1234, 5678); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 1234 || hdr.Gid != 5678 || !strings.HasPrefix(hdr.Name, "d") {
			t.Errorf("entry %q owned by %d:%d, want d... owned by 1234:5678", hdr.Name, hdr.Uid, hdr.Gid)
		}
	}
	dst := t.TempDir()
	root, err := os.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, _, err := readTar(bytes.NewReader(buf.Bytes()), root, "d", "copy"); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		got, err := os.ReadFile(filepath.Join(dst, "copy", name))
		if err != nil || string(got) != content {
			t.Errorf("%s = %q, %v; want %q", name, got, err, content)
		}
		if fi, err := os.Stat(filepath.Join(dst, "copy", name)); err == nil && fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v, want 0640", name, fi.Mode().Perm())
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "copy", "link")); err != nil || l != "bin" {
		t.Errorf("link = %q, %v; want a symlink to bin", l, err)
	}
}

func TestCopyTarRefusesEscape(t *testing.T) {
	for _, entries := range [][]*tar.Header{
		{{Name: "d/../../etc/x", Typeflag: tar.TypeReg}},
		{{Name: "other/x", Typeflag: tar.TypeReg}},
		{{Name: "d", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "d/l/x", Typeflag: tar.TypeReg}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		dst := t.TempDir()
		root, err := os.OpenRoot(dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := readTar(&buf, root, "d", ""); err == nil {
			t.Errorf("entries %q unpacked, want refused", entries[len(entries)-1].Name)
		}
		root.Close()
	}
}
