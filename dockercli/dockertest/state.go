package dockertest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Docker's own texts, recorded from docker CLI 28.2 against engine 20.10.
// Scripts that need another engine's wording replay it with fakeresp.
const (
	msgNoSuchContainer = "Error response from daemon: No such container: %s"
	msgNotRunning      = "Error response from daemon: Container %s is not running"
	msgConflict        = `docker: Error response from daemon: Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`
	msgNoImageLocal    = "Unable to find image '%s' locally"
	msgPullDenied      = "docker: Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
	msgDaemonDown      = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	msgStartFailed     = "Error: failed to start containers: %s"
	msgExecNotFound    = `OCI runtime exec failed: exec failed: unable to start container process: exec: "%s": executable file not found in $PATH: unknown`
	// docker run appends this to its own errors.
	msgRunHelp = "\nRun 'docker run --help' for more information"
)

// The environment of the sandbox image, before docker run's -e.
var ImageEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

// Container is one container of the fake engine.
type Container struct {
	Seq      int               `json:"seq"`
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	User     string            `json:"user,omitempty"`
	Env      []string          `json:"env,omitempty"`
	Workdir  string            `json:"workdir,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Mounts   []Mount           `json:"mounts,omitempty"`
	Cmd      []string          `json:"cmd,omitempty"`
	Init     bool              `json:"init,omitempty"`
	Network  string            `json:"network,omitempty"`
	Restart  string            `json:"restart,omitempty"`
	Memory   string            `json:"memory,omitempty"`
	CPUs     string            `json:"cpus,omitempty"`
	Running  bool              `json:"running"`
	Created  time.Time         `json:"created"`
	Started  time.Time         `json:"started"`  // zero: never started
	Finished time.Time         `json:"finished"` // zero: never stopped
	ExitCode int               `json:"exit_code"`
	// ExecPids are the host processes of the execs in flight: docker's
	// ExecIDs lists those that are still alive.
	ExecPids []int `json:"exec_pids,omitempty"`
	// Logs is what docker logs prints of it.
	Logs string `json:"logs,omitempty"`
}

type Mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only,omitempty"`
}

// engineState is the whole fake engine, kept in $FAKEDOCKER_STATE/state.json.
type engineState struct {
	Seq        int          `json:"seq"`
	Containers []*Container `json:"containers"`
	Networks   []*Network   `json:"networks,omitempty"`
	Images     []string     `json:"images,omitempty"`
}

// Canned replaces the engine's answer to the next call of Verb ("exec",
// "run", "container inspect", ...): Stderr and Exit instead of its work.
// With Apply, the call still takes effect first (a racing creator's run).
type Canned struct {
	Verb   string `json:"verb"`
	Apply  bool   `json:"apply,omitempty"`
	Exit   int    `json:"exit"`
	Stderr string `json:"stderr,omitempty"`
	// Times is how many calls it answers (0 is one); Always answers every
	// call from now on.
	Times  int  `json:"times,omitempty"`
	Always bool `json:"always,omitempty"`
	Used   int  `json:"used,omitempty"`
}

// unused reports whether no call took the answer as often as promised.
func (r Canned) unused() bool { return r.Used == 0 || !r.Always && r.Used < max(r.Times, 1) }

// stateDir holds the fake engine's files; the lock serialises concurrent
// docker calls, as the daemon would.
type stateDir string

func (d stateDir) path(name string) string { return filepath.Join(string(d), name) }

// locked runs fn with the engine's lock held.
func (d stateDir) locked(fn func() error) error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(d.path("lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	return fn()
}

func (d stateDir) loadJSON(name string, v any) error {
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (d stateDir) saveJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.path(name + ".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.path(name))
}

// load reads the state.
func (d stateDir) load() (*engineState, error) {
	var st engineState
	err := d.locked(func() error { return d.loadJSON("state.json", &st) })
	return &st, err
}

// update loads the state, lets fn change it, and saves it, under the lock.
func (d stateDir) update(fn func(*engineState) error) error {
	return d.locked(func() error {
		var st engineState
		if err := d.loadJSON("state.json", &st); err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		return d.saveJSON("state.json", &st)
	})
}

// take removes and returns the first canned response for verb.
func (d stateDir) take(verb string) (*Canned, error) {
	var got *Canned
	err := d.locked(func() error {
		var queue []Canned
		if err := d.loadJSON("canned.json", &queue); err != nil {
			return err
		}
		for i, r := range queue {
			if r.Verb == verb {
				got = &r
				queue[i].Used++
				if !r.Always && queue[i].Used >= max(r.Times, 1) {
					queue = append(queue[:i], queue[i+1:]...)
				}
				return d.saveJSON("canned.json", queue)
			}
		}
		return nil
	})
	return got, err
}

// find looks a container up as docker does: by name (with or without its
// leading "/"), else by a prefix of its id.
func (st *engineState) find(ref string) *Container {
	if c := st.byName(strings.TrimPrefix(ref, "/")); c != nil {
		return c
	}
	if strings.Trim(ref, "0123456789abcdef") != "" {
		return nil
	}
	for _, c := range st.Containers {
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			return c
		}
	}
	return nil
}

func (st *engineState) byName(name string) *Container {
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (st *engineState) remove(c *Container) {
	for i, x := range st.Containers {
		if x == c {
			st.Containers = append(st.Containers[:i], st.Containers[i+1:]...)
			return
		}
	}
}

// add gives c a sequence number and a stable id: the same script always
// sees the same ids.
func (st *engineState) add(c *Container) {
	st.Seq++
	c.Seq = st.Seq
	if c.ID == "" {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\n%d", c.Name, c.Seq)))
		c.ID = hex.EncodeToString(sum[:])
	}
	st.Containers = append(st.Containers, c)
}

// stop stops c the way SIGTERM does: with --init, tail exits on it (143);
// without, tail is PID 1, ignores it, and is killed after the grace (137).
func (c *Container) stop(now time.Time) {
	if !c.Running {
		return
	}
	c.Running = false
	c.ExecPids = nil
	c.Finished = now
	c.ExitCode = 143
	if !c.Init {
		c.ExitCode = 137
	}
}
