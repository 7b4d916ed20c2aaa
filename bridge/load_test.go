package bridge

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// skipShortReal skips a real-engine test or benchmark under -short, the
// hermetic run, except under CI=true or DOCKERBRIDGE_REAL_ENGINE, which ask
// for the real engine.
func skipShortReal(tb testing.TB) {
	tb.Helper()
	if testing.Short() && os.Getenv("CI") == "" && os.Getenv("DOCKERBRIDGE_REAL_ENGINE") == "" {
		tb.Skip("real engine: -short skips it (never under CI=true or DOCKERBRIDGE_REAL_ENGINE)")
	}
}

// requireLoadEngine is main_test.go's requireEngine for this package: with no
// engine it skips, but never under CI=true or DOCKERBRIDGE_REAL_ENGINE=1.
func requireLoadEngine(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != ""
	if testing.Short() && !ci {
		t.Skip("1,000 execs take a minute or more; -short skips them (never under CI or DOCKERBRIDGE_REAL_ENGINE)")
	}
	err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", DefaultImage).Run()
	if err == nil {
		return
	}
	if ci {
		t.Fatalf("real engine required (CI or DOCKERBRIDGE_REAL_ENGINE set) but docker with %s is not available: %v; run scripts/setup", DefaultImage, err)
	}
	t.Skip("no docker engine with " + DefaultImage + "; run scripts/setup (never skipped under CI=true)")
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open files: %v", err)
	}
	return len(fds)
}

// settled is n() once it has come down to want, or after 5s what it is
// then: a goroutine or pipe of the exec that just returned may take a moment
// to go, where a leaked one never goes.
func settled(want int, n func() int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := n()
		if got <= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heapObjects is the number of live heap objects after a collection.
func heapObjects() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapObjects
}

// TestLoadSequentialExec runs 1,000 execs one after another in one process,
// against the real engine, and checks that each returns its own output and
// that nothing accumulates: every 100 execs, once the last one's goroutines
// and pipes are gone, there are no more open files or goroutines than after
// the warm-up, and the live heap objects do not grow with the count. It
// asserts counts, never times; it takes as long as 1,000 docker execs do
// (1-2 minutes on an idle machine), so -short skips it outside CI.
func TestLoadSequentialExec(t *testing.T) {
	requireLoadEngine(t)
	ws := t.TempDir()
	if err := os.Chmod(ws, 0o777); err != nil {
		t.Fatal(err)
	}
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	docker := &dockercli.Client{Runner: dockercli.OSRunner{}}
	b, err := New(Config{Project: "t-load-" + newID()[:8], HostPath: ws}, docker, dockercli.OSRunner{}, st)
	if err != nil {
		t.Fatal(err)
	}
	name := b.Name()
	t.Cleanup(func() {
		// The container user's files go first: the test's user may not
		// be able to remove them.
		_, _ = b.Exec(context.Background(), "rm -rf /workspace/.tmp", ExecOptions{})
		if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
			t.Logf("remove %s: %v: %s", name, err, out)
		}
	})
	ctx := context.Background()
	run := func(i int) {
		t.Helper()
		want := "exec " + strconv.Itoa(i) + "\n"
		// A deadline of its own: a docker client that never returns must
		// fail this exec, not hang the test binary past its cleanup.
		res, err := b.Exec(ctx, "echo exec "+strconv.Itoa(i), ExecOptions{Timeout: time.Minute})
		if res.TimedOut {
			out, _ := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{len .ExecIDs}} execs in flight", name).CombinedOutput()
			t.Fatalf("exec %d timed out after a minute; the container is %s", i, out)
		}
		if err != nil || res.ExitCode != 0 || res.Output != want || res.Error != "" {
			t.Fatalf("exec %d: %+v, %v; want output %q", i, res, err, want)
		}
	}

	// Warm up: the first calls start the container and set up what the
	// runtime keeps for good (the poller, timers, signal handling).
	const warm, total = 20, 1000
	for i := range warm {
		run(i)
	}
	fds, goroutines := openFDs(t), runtime.NumGoroutine()
	objectsAtWarm := heapObjects()
	maxFDs, maxGoroutines := fds, goroutines
	var objectsAtTenth uint64
	for i := warm; i < total; i++ {
		run(i)
		if i%100 == 0 || i == total-1 {
			maxFDs = max(maxFDs, settled(fds, func() int { return openFDs(t) }))
			maxGoroutines = max(maxGoroutines, settled(goroutines, runtime.NumGoroutine))
		}
		if i == total/10 {
			objectsAtTenth = heapObjects()
		}
	}
	objectsAtEnd := heapObjects()
	t.Logf("%d execs: open files %d (at most %d after a settle), goroutines %d (at most %d), live heap objects %d after %d execs, %d after %d, %d after %d",
		total, fds, maxFDs, goroutines, maxGoroutines, objectsAtWarm, warm, objectsAtTenth, total/10+1, objectsAtEnd, total)

	if maxFDs > fds {
		t.Errorf("open files: %d after the warm-up, %d later; want no more", fds, maxFDs)
	}
	if maxGoroutines > goroutines {
		t.Errorf("goroutines: %d after the warm-up, %d later; want no more", goroutines, maxGoroutines)
	}
	// 900 execs between the two counts: keeping even one object per exec
	// would add 900. Collection and the runtime's caches move the count
	// by a few hundred either way.
	const slack = 500
	if objectsAtEnd > objectsAtTenth+slack {
		t.Errorf("live heap objects grew from %d to %d over %d execs: more than %d, so something is kept per exec",
			objectsAtTenth, objectsAtEnd, total-total/10-1, slack)
	}
	if out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+ProjectLabel+"="+b.Config().Project).Output(); err != nil || len(out) != 13 {
		t.Errorf("docker ps of the project: %q, %v; want one running container", out, err)
	}
}
