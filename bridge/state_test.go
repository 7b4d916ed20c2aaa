package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The state tests hold locks in a second process, as a reaper run from cron
// and a CLI call would: the test binary re-runs itself as that process.
const (
	stateHelperEnv = "BRIDGE_STATE_HELPER" // enter, claim or lock
	stateDirEnv    = "BRIDGE_STATE_DIR"
	stateNameEnv   = "BRIDGE_STATE_NAME"
)

// TestStateHelperProcess is the second process, not a test: it returns at
// once unless a state test started it. It takes the lock its environment
// names, prints "held", and keeps it until its stdin closes.
func TestStateHelperProcess(t *testing.T) {
	mode := os.Getenv(stateHelperEnv)
	if mode == "" {
		return
	}
	st, err := OpenState(os.Getenv(stateDirEnv))
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	name := os.Getenv(stateNameEnv)
	release := func() {}
	switch mode {
	case "enter":
		busy, err := st.Enter(context.Background(), name)
		if err == nil {
			release = busy.Leave
		}
	case "claim":
		release, err = st.Claim(name)
	case "lock":
		release, err = st.Lock(context.Background(), name)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	release()
	os.Exit(0)
}

// holdElsewhere makes another process take lock mode on name in dir and
// returns once it holds it. The returned func makes it let go and waits for
// it to exit.
func holdElsewhere(t *testing.T, mode, dir, name string) (letGo func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStateHelperProcess$")
	cmd.Env = append(os.Environ(), stateHelperEnv+"="+mode, stateDirEnv+"="+dir, stateNameEnv+"="+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	letGo = func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper process: %v", err)
			}
		})
	}
	t.Cleanup(letGo)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("helper process said %q (%v), want held", line, err)
	}
	return letGo
}

func openTestState(t *testing.T) *State {
	t.Helper()
	st, err := OpenState(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var longAgo = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// age dates name's activity to longAgo.
func age(t *testing.T, st *State, name string) {
	t.Helper()
	if err := os.Chtimes(st.path(name, ".activity"), longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
}

func TestEnterLeaveRecordActivity(t *testing.T) {
	st := openTestState(t)
	if _, ok := st.LastActivity("c"); ok {
		t.Fatal("activity before any operation")
	}
	busy, err := st.Enter(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if last, ok := st.LastActivity("c"); !ok || !last.After(longAgo) {
		t.Errorf("after Enter: last activity %v, %v", last, ok)
	}
	age(t, st, "c")
	busy.Leave()
	if last, ok := st.LastActivity("c"); !ok || !last.After(longAgo) {
		t.Errorf("after Leave: last activity %v, %v; want it touched", last, ok)
	}
	busy.Leave() // twice is harmless

	age(t, st, "c")
	busy, err = st.Enter(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Leave()
	if last, _ := st.LastActivity("c"); !last.After(longAgo) {
		t.Errorf("second Enter: last activity %v; want it touched", last)
	}
	if _, ok := st.LastActivity("other"); ok {
		t.Error("activity of one container shows on another")
	}
}

// Operations share the activity lock.
func TestEntersCoexist(t *testing.T) {
	st := openTestState(t)
	letGo := holdElsewhere(t, "enter", st.Dir(), "c")
	defer letGo()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	busy, err := st.Enter(ctx, "c")
	if err != nil {
		t.Fatalf("Enter while another process is in: %v", err)
	}
	busy.Leave()
}

func TestClaimFailsWhileEntered(t *testing.T) {
	t.Run("another process", func(t *testing.T) {
		st := openTestState(t)
		letGo := holdElsewhere(t, "enter", st.Dir(), "c")
		if _, err := st.Claim("c"); !errors.Is(err, errBusy) {
			t.Fatalf("Claim while another process is in: %v, want errBusy", err)
		}
		letGo()
		release, err := st.Claim("c")
		if err != nil {
			t.Fatalf("Claim after the process left: %v", err)
		}
		release()
	})
	t.Run("this process", func(t *testing.T) {
		st := openTestState(t)
		busy, err := st.Enter(t.Context(), "c")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Claim("c"); !errors.Is(err, errBusy) {
			t.Fatalf("Claim while entered: %v, want errBusy", err)
		}
		busy.Leave()
		release, err := st.Claim("c")
		if err != nil {
			t.Fatalf("Claim after Leave: %v", err)
		}
		release()
	})
	t.Run("a process that died holding it", func(t *testing.T) {
		st := openTestState(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestStateHelperProcess$")
		cmd.Env = append(os.Environ(), stateHelperEnv+"=enter", stateDirEnv+"="+st.Dir(), stateNameEnv+"=c")
		stdout, _ := cmd.StdoutPipe()
		stdin, _ := cmd.StdinPipe()
		defer stdin.Close()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "held\n" {
			t.Fatalf("helper said %q", line)
		}
		cmd.Process.Kill()
		cmd.Wait()
		release, err := st.Claim("c")
		if err != nil {
			t.Fatalf("Claim after the holder died: %v; the kernel should have dropped its lock", err)
		}
		release()
	})
}

func TestEnterWaitsWhileClaimed(t *testing.T) {
	for _, elsewhere := range []bool{true, false} {
		t.Run(fmt.Sprintf("claimed elsewhere %v", elsewhere), func(t *testing.T) {
			st := openTestState(t)
			var release func()
			if elsewhere {
				release = holdElsewhere(t, "claim", st.Dir(), "c")
			} else {
				var err error
				if release, err = st.Claim("c"); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if _, err := st.Enter(ctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Enter while claimed: %v, want it to wait until its deadline", err)
			}
			entered := make(chan error, 1)
			go func() {
				busy, err := st.Enter(t.Context(), "c")
				if err == nil {
					busy.Leave()
				}
				entered <- err
			}()
			release()
			if err := <-entered; err != nil {
				t.Errorf("Enter after the claim was released: %v", err)
			}
		})
	}
}

func TestClaimExcludesClaim(t *testing.T) {
	st := openTestState(t)
	release := holdElsewhere(t, "claim", st.Dir(), "c")
	if _, err := st.Claim("c"); !errors.Is(err, errBusy) {
		t.Errorf("second Claim: %v, want errBusy", err)
	}
	release()
}

// Claiming a container no operation ever touched leaves it looking idle.
func TestClaimNeverSeenIsNotActivity(t *testing.T) {
	st := openTestState(t)
	release, err := st.Claim("fresh")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if last, ok := st.LastActivity("fresh"); ok && !last.Equal(time.Unix(0, 0)) {
		t.Errorf("after Claim of a never-seen container: last activity %v; want none", last)
	}
}

func TestLockSerialises(t *testing.T) {
	st := openTestState(t)
	var inside atomic.Int32
	var total int // guarded by the lock alone; -race checks that
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				unlock, err := st.Lock(t.Context(), "c")
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders of the lock at once", n)
				}
				total++
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if total != 160 {
		t.Errorf("total %d, want 160", total)
	}
}

func TestLockWaitsForOtherProcess(t *testing.T) {
	st := openTestState(t)
	letGo := holdElsewhere(t, "lock", st.Dir(), "c")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := st.Lock(ctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock held elsewhere: %v, want it to wait until its deadline", err)
	}
	// Another container's lock is independent.
	unlock, err := st.Lock(t.Context(), "d")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	letGo()
	unlock, err = st.Lock(t.Context(), "c")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlock()
}
