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
	"strings"
	"sync"
	"testing"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/dockercli/dockertest"
)

// fakeFleet is dockertest's engine reached through docker contexts, one
// engine per context, with what the fleet's tests arrange: an engine that
// never answers, and one whose size changes with each docker info.
type fakeFleet struct {
	*dockertest.Engine
	t     *testing.T
	names []string

	mu sync.Mutex
	// hang: engines that answer nothing until the call's context ends.
	hang map[string]bool
	// flip: engines whose docker info answers alternate between a big
	// engine and a small one, so that two placements never agree by chance.
	flip  map[string]bool
	infos int
	runs  int // docker runs that made a container
	seen  int // calls before the last reset
}

func newFakeFleet(t *testing.T, names ...string) *fakeFleet {
	return &fakeFleet{Engine: dockertest.New(t), t: t, names: names, hang: map[string]bool{}, flip: map[string]bool{}}
}

func (f *fakeFleet) fleet(st *State) *Fleet {
	engines := slices.Sorted(slices.Values(f.names))
	return &Fleet{Engines: engines, State: st, Deadline: 2 * time.Second, Client: func(e string) *dockercli.Client {
		return &dockercli.Client{Runner: f, Context: e}
	}}
}

// add puts a container of project on engine, as a run an hour ago had.
func (f *fakeFleet) add(engine, name string, running bool, project string) {
	f.t.Helper()
	c := dockertest.Default(name, "", time.Now().Add(-time.Hour))
	c.Labels[ProjectLabel] = project
	c.Started, c.Finished, c.ExitCode = c.Created, c.Created, 143
	if running {
		c.Start(c.Created)
	}
	if err := f.Context(engine).Add(c); err != nil {
		f.t.Fatal(err)
	}
}

// where lists, per engine, the containers it holds.
func (f *fakeFleet) where() map[string][]string {
	out := map[string][]string{}
	for _, e := range f.names {
		for _, c := range f.Context(e).Containers() {
			out[e] = append(out[e], c.Name)
		}
	}
	return out
}

// calls are the calls since the last reset, each "engine verb".
func (f *fakeFleet) calls() []string {
	f.mu.Lock()
	seen := f.seen
	f.mu.Unlock()
	var out []string
	for _, a := range f.Calls()[seen:] {
		if len(a) > 2 && a[0] == "--context" {
			out = append(out, a[1]+" "+dockertest.Verb(a[2:]))
		}
	}
	return out
}

func (f *fakeFleet) reset() {
	n := len(f.Calls())
	f.mu.Lock()
	f.seen = n
	f.mu.Unlock()
}

func (f *fakeFleet) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	if c.Args[0] != "docker" {
		return 1, nil // id and getent know no project user
	}
	if len(c.Args) < 3 || c.Args[1] != "--context" {
		f.t.Errorf("call without --context: %q", c.Args)
		return 1, nil
	}
	engine, verb := c.Args[2], dockertest.Verb(c.Args[3:])
	if !slices.Contains(f.names, engine) {
		fmt.Fprintf(c.Stderr, "context %q does not exist\n", engine)
		return 1, nil
	}
	f.mu.Lock()
	hang, flip := f.hang[engine], f.flip[engine] && verb == "info"
	if flip {
		f.infos++
	}
	cpus := []int{2, 64}[f.infos%2]
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	if flip {
		fmt.Fprintf(c.Stdout, "%d\t%d\n", cpus, int64(16<<30))
		return 0, nil
	}
	code, err := f.Engine.Run(ctx, c)
	if verb == "run" && code == 0 && err == nil {
		f.mu.Lock()
		f.runs++
		f.mu.Unlock()
	}
	return code, err
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
	// Room for two 2-CPU containers on each engine: the fake engine's size.
	if dockertest.InfoNCPU != 4 || dockertest.InfoMemTotal != 8<<30 {
		t.Fatalf("the fake engine has %d CPUs and %d bytes, want 4 and 8 GiB", dockertest.InfoNCPU, dockertest.InfoMemTotal)
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
	ff.add("b", "luzia-p", true, "p")
	b := fleetBridge(t, ff, st, "p")
	if b.Engine() != "b" {
		t.Fatalf("engine = %q, want b, which has the container", b.Engine())
	}
	// The state directory remembers it: the next call asks no engine.
	ff.reset()
	b = fleetBridge(t, ff, st, "p")
	if calls := ff.calls(); b.Engine() != "b" || len(calls) != 0 {
		t.Fatalf("second call: engine %q after calls %q, want b after none", b.Engine(), calls)
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
	calls := ff.calls()
	if len(calls) == 0 {
		t.Fatal("the lookup made no call")
	}
	for _, c := range calls {
		if strings.HasSuffix(c, " info") {
			t.Errorf("a lookup asked for the engines' size: %q", calls)
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
	ff.add("b", "luzia-p", false, "p")
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
	ff.add("a", "luzia-q", true, "other")
	if found, errs := ff.fleet(st).Find(context.Background(), "luzia-q", "q"); len(found) != 0 || len(errs) != 0 {
		t.Fatalf("Find(luzia-q) = %v, %v; want nothing", found, errs)
	}
}

func TestFleetConcurrentColdStart(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	ff.flip["a"] = true
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
	ff.add("a", "luzia-p1", true, "p1")
	ff.add("b", "luzia-p2", true, "p2")
	ff.hang["b"] = true
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
	ff.add("a", "luzia-p1", true, "p1")
	ff.add("b", "luzia-p2", true, "p2")
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
	// The workspace exists on no engine's host.
	if err := os.RemoveAll(b.Config().HostPath); err != nil {
		t.Fatal(err)
	}
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

func TestFleetPinRefusesASecondContainer(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("known=%v", known), func(t *testing.T) {
			ff := newFakeFleet(t, "a", "b")
			st := newState(t)
			ff.add("b", "luzia-p", true, "p")
			if known {
				if err := st.SetEngine("luzia-p", "b"); err != nil {
					t.Fatal(err)
				}
			}
			b, err := New(Config{Project: "p", HostPath: t.TempDir(), RemoteEngine: true}, &dockercli.Client{Runner: ff}, ff, st)
			if err != nil {
				t.Fatal(err)
			}
			err = b.UseFleet(context.Background(), ff.fleet(st), "a")
			if err == nil {
				_, err = b.Ensure(context.Background())
			}
			var pe *PinError
			if !errors.As(err, &pe) || pe.Holder != "b" || pe.Pin != "a" {
				t.Fatalf("pinned to a with the container on b: err %v, want a PinError naming both", err)
			}
			if ff.runs != 0 {
				t.Fatalf("%d containers made, want none", ff.runs)
			}
			if e, _ := st.Engine("luzia-p"); known && e != "b" {
				t.Fatalf("recorded engine %q, want b still", e)
			}
		})
	}
	// A pin on the engine that holds it, or on one for a project that is
	// nowhere yet, works as before.
	ff := newFakeFleet(t, "a", "b")
	st := newState(t)
	b, err := New(Config{Project: "p", HostPath: t.TempDir(), RemoteEngine: true}, &dockercli.Client{Runner: ff}, ff, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UseFleet(context.Background(), ff.fleet(st), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ensure(context.Background()); err != nil || ff.runs != 1 || b.Engine() != "a" {
		t.Fatalf("Ensure = %v with %d runs on %q, want one container on a", err, ff.runs, b.Engine())
	}
}

// Status names the engine that holds the container, so that a caller of a
// fleet learns where it is from Status alone.
func TestFleetStatusNamesEngine(t *testing.T) {
	ff := newFakeFleet(t, "a", "b")
	b := fleetBridge(t, ff, newState(t), "p1")
	if _, err := b.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Engine == "" || st.Engine != b.Engine() || !slices.Contains(ff.where()[st.Engine], b.Name()) {
		t.Errorf("status %+v on engine %q; containers per engine %v", st, b.Engine(), ff.where())
	}
}
