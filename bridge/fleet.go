package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dockerbridge/dockercli"
)

// DefaultEngineDeadline bounds each engine's answer in a fleet-wide call.
const DefaultEngineDeadline = 10 * time.Second

// Fleet is several docker engines, each reached through a docker context,
// driven from one host with one state directory. Each project lives on one
// engine: the state directory remembers which, the engines are asked when it
// does not know or is wrong, and a new project goes where there is most
// room. Placement runs under the project's lock, so that callers sharing the
// state directory agree on one engine.
type Fleet struct {
	// Engines are docker context names, in the order that breaks ties.
	Engines []string
	// Client is the docker client of an engine.
	Client func(engine string) *dockercli.Client
	State  *State
	// Deadline bounds each engine's part of a lookup, a placement or a
	// fan-out; zero means DefaultEngineDeadline.
	Deadline time.Duration
	// LookOnly places nothing: a call that only looks at, stops or removes
	// a container must not choose an engine for one that does not exist.
	// Such a project is then looked for on the first engine, where it is
	// missing.
	LookOnly bool
}

// EngineError is an engine that did not answer a fleet-wide call.
type EngineError struct {
	Engine string
	Err    error
}

func (e *EngineError) Error() string { return fmt.Sprintf("engine %s: %v", e.Engine, e.Err) }
func (e *EngineError) Unwrap() error { return e.Err }

func (f *Fleet) deadline() time.Duration {
	if f.Deadline > 0 {
		return f.Deadline
	}
	return DefaultEngineDeadline
}

// each runs fn for every engine at once, each under its own deadline, and
// returns each engine's error in the order of Engines. An engine that does
// not answer in time fails alone; the others' results stand.
func (f *Fleet) each(ctx context.Context, fn func(ctx context.Context, i int, docker *dockercli.Client) error) []error {
	errs := make([]error, len(f.Engines))
	var wg sync.WaitGroup
	for i, engine := range f.Engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ectx, cancel := context.WithTimeout(ctx, f.deadline())
			defer cancel()
			err := fn(ectx, i, f.Client(engine))
			if err != nil && ectx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s", f.deadline())
			}
			if err != nil {
				errs[i] = &EngineError{Engine: engine, Err: err}
			}
		}()
	}
	wg.Wait()
	return errs
}

// engineExt is the state file that holds a container's engine.
const engineExt = ".engine"

// Engine is the engine the state directory has for a container, if any.
func (s *State) Engine(name string) (string, bool) {
	data, err := os.ReadFile(s.path(name, engineExt))
	engine := strings.TrimSpace(string(data))
	return engine, err == nil && engine != ""
}

// SetEngine records the engine of a container.
func (s *State) SetEngine(name, engine string) error {
	tmp := s.path(name, engineExt+".tmp")
	if err := os.WriteFile(tmp, []byte(engine+"\n"), 0o600); err != nil {
		return fmt.Errorf("record engine of %s: %w", name, err)
	}
	return os.Rename(tmp, s.path(name, engineExt))
}

// Find asks every engine at once for the container name carrying the
// project label. It returns the engines that have it, in the order of
// Engines, and the errors of those that did not answer.
func (f *Fleet) Find(ctx context.Context, name, project string) ([]string, []error) {
	has := make([]bool, len(f.Engines))
	errs := f.each(ctx, func(ctx context.Context, i int, docker *dockercli.Client) error {
		out, err := docker.Inspect(ctx, `{{.Name}}{{"\t"}}{{index .Config.Labels "`+ProjectLabel+`"}}`, name)
		if errors.Is(err, dockercli.ErrNoSuchContainer) {
			return nil
		}
		if err != nil {
			return err
		}
		// Inspect also takes an id prefix: only the exact name counts.
		n, label, _ := strings.Cut(strings.TrimSpace(out), "\t")
		has[i] = strings.TrimPrefix(n, "/") == name && label == project
		return nil
	})
	var found []string
	for i, ok := range has {
		if ok {
			found = append(found, f.Engines[i])
		}
	}
	return found, slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// Need is what a new container asks of an engine.
type Need struct {
	CPUs   float64 // cores; 0: unknown
	Memory float64 // bytes; 0: unknown
}

// NeedOf reads docker's --cpus and --memory values.
func NeedOf(cpus, memory string) Need {
	var n Need
	n.CPUs, _ = strconv.ParseFloat(cpus, 64)
	n.Memory = memoryBytes(memory)
	return n
}

// memoryBytes reads docker's memory units (b, k, m, g; 1024-based); 0 when
// it cannot.
func memoryBytes(s string) float64 {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for i, unit := range []string{"b", "k", "m", "g", "t"} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			s, mult = v, float64(int64(1)<<(10*i))
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v * mult
}

// EngineLoad is what an engine holds: its size, the limits of the project
// containers running on it, and how many there are.
type EngineLoad struct {
	Engine     string
	CPUs       float64
	Memory     float64
	UsedCPUs   float64
	UsedMemory float64
	Containers int
}

// room is how many containers of need still fit, by the scarcer of CPU and
// memory. Without a known need it is the free share of the engine.
func (l EngineLoad) room(need Need) float64 {
	fit := func(total, used, want float64) float64 {
		if want > 0 {
			return (total - used) / want
		}
		if total > 0 {
			return (total - used) / total
		}
		return 0
	}
	return min(fit(l.CPUs, l.UsedCPUs, need.CPUs), fit(l.Memory, l.UsedMemory, need.Memory))
}

// Load asks one engine for its size and the limits of the running project
// containers: docker info, docker ps, and one inspect of them all.
func Load(ctx context.Context, docker *dockercli.Client) (EngineLoad, error) {
	var l EngineLoad
	out, err := docker.Output(ctx, dockercli.InfoArgs()...)
	if err != nil {
		return l, err
	}
	cpus, mem, _ := strings.Cut(strings.TrimSpace(out), "\t")
	l.CPUs, _ = strconv.ParseFloat(cpus, 64)
	l.Memory, _ = strconv.ParseFloat(mem, 64)
	if l.CPUs <= 0 || l.Memory <= 0 {
		return l, fmt.Errorf("docker info: unreadable size %q", strings.TrimSpace(out))
	}
	out, err = docker.Ps(ctx, false, "{{.ID}}", ProjectLabel)
	if err != nil {
		return l, err
	}
	ids := strings.Fields(out)
	l.Containers = len(ids)
	if len(ids) == 0 {
		return l, nil
	}
	out, err = docker.Inspect(ctx, `{{.HostConfig.NanoCpus}}{{"\t"}}{{.HostConfig.Memory}}`, ids...)
	if err != nil && out == "" {
		return l, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		nano, mem, _ := strings.Cut(line, "\t")
		n, _ := strconv.ParseFloat(nano, 64)
		m, _ := strconv.ParseFloat(mem, 64)
		// No limit: it may take the whole engine, so it counts as all of it.
		if n <= 0 {
			n = l.CPUs * 1e9
		}
		if m <= 0 {
			m = l.Memory
		}
		l.UsedCPUs += n / 1e9
		l.UsedMemory += m
	}
	return l, nil
}

// Choose picks the engine with the most room for need; ties go to the one
// with fewer containers, then to the first listed.
func Choose(loads []EngineLoad, need Need) (string, bool) {
	best := -1
	for i, l := range loads {
		if best < 0 {
			best = i
			continue
		}
		r, rb := l.room(need), loads[best].room(need)
		const eps = 1e-9
		if r > rb+eps || (r > rb-eps && l.Containers < loads[best].Containers) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return loads[best].Engine, true
}

// Place picks the engine for a new container: it asks every engine for its
// load at once and chooses among those that answered.
func (f *Fleet) Place(ctx context.Context, need Need) (string, error) {
	loads := make([]EngineLoad, len(f.Engines))
	errs := f.each(ctx, func(ctx context.Context, i int, docker *dockercli.Client) error {
		l, err := Load(ctx, docker)
		l.Engine = f.Engines[i]
		loads[i] = l
		return err
	})
	var ok []EngineLoad
	for i, l := range loads {
		if errs[i] == nil {
			ok = append(ok, l)
		}
	}
	engine, found := Choose(ok, need)
	if !found {
		return "", fmt.Errorf("no engine answered to place a new container: %w", errors.Join(errs...))
	}
	return engine, nil
}

// Resolve is the engine of the project's container: the one the state
// directory remembers, without asking any engine; else the one that has it;
// else, for a new project, the one with the most room. The lookup and the
// placement run under the project's lock, so that concurrent callers agree.
// placed says that no engine had it: the container is yet to be made there.
func (f *Fleet) Resolve(ctx context.Context, name, project string, need Need) (engine string, placed bool, err error) {
	if e, ok := f.State.Engine(name); ok && slices.Contains(f.Engines, e) {
		return e, false, nil
	}
	unlock, err := f.State.Lock(ctx, name)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if e, ok := f.State.Engine(name); ok && slices.Contains(f.Engines, e) {
		return e, false, nil
	}
	found, errs := f.Find(ctx, name, project)
	if len(found) > 0 {
		return found[0], false, f.State.SetEngine(name, found[0])
	}
	if len(errs) > 0 {
		// It may live on an engine that did not answer: a second one made
		// elsewhere would split the project.
		return "", false, fmt.Errorf("%s is on none of the engines that answered, and cannot be placed while one does not: %w", name, errors.Join(errs...))
	}
	if f.LookOnly {
		return f.Engines[0], false, nil
	}
	engine, err = f.Place(ctx, need)
	if err != nil {
		return "", false, err
	}
	return engine, true, f.State.SetEngine(name, engine)
}

// UseFleet points the bridge at its project's engine in f: the one Resolve
// gives, or pin when it is set (that engine for this call, asked nothing).
func (b *Bridge) UseFleet(ctx context.Context, f *Fleet, pin string) error {
	b.fleet = f
	if pin != "" {
		if e, ok := f.State.Engine(b.Name()); ok && e != pin && slices.Contains(f.Engines, e) {
			return &PinError{Name: b.Name(), Pin: pin, Holder: e}
		}
		b.engine, b.docker, b.pin = pin, f.Client(pin), true
	} else {
		engine, placed, err := f.Resolve(ctx, b.Name(), b.cfg.Project, NeedOf(b.cfg.CPUs, b.cfg.Memory))
		if err != nil {
			return err
		}
		b.engine, b.docker, b.placed = engine, f.Client(engine), placed
	}
	// Its paths are the engine host's: not checked or read here.
	b.cfg.RemoteEngine = b.cfg.RemoteEngine || remoteEngine(b.engine)
	return nil
}

// Engine is the engine the bridge drives; "" outside a fleet.
func (b *Bridge) Engine() string { return b.engine }

// relocate runs under the project's lock when the bridge's engine says the
// container is missing: the state directory may be out of date. It asks the
// other engines and moves the bridge to the one that has the container,
// reporting whether it moved. A container found nowhere is made on the
// bridge's engine, where it was placed. A pinned bridge does not move: a
// container found elsewhere is a *PinError, since making one on the pinned
// engine would split the project.
func (b *Bridge) relocate(ctx context.Context) (bool, error) {
	if b.fleet == nil || b.placed {
		return false, nil
	}
	found, _ := b.fleet.Find(ctx, b.Name(), b.cfg.Project)
	if len(found) == 0 || slices.Contains(found, b.engine) {
		return false, nil
	}
	if b.pin {
		return false, &PinError{Name: b.Name(), Pin: b.engine, Holder: found[0]}
	}
	b.engine, b.docker = found[0], b.fleet.Client(found[0])
	b.cfg.RemoteEngine = b.cfg.RemoteEngine || remoteEngine(b.engine)
	_ = b.fleet.State.SetEngine(b.Name(), b.engine)
	return true, nil
}

// fleetSpec binds the workspace with --mount in a fleet: the path is on the
// engine's host, and -v would make a missing one there, owned by root.
func (b *Bridge) fleetSpec(spec dockercli.RunSpec, path string) dockercli.RunSpec {
	if b.fleet == nil || len(spec.Mounts) == 0 {
		return spec
	}
	spec.Mounts = spec.Mounts[1:]
	spec.Extra = append([]string{"--mount", dockercli.BindMount(path, Workspace)}, spec.Extra...)
	return spec
}

// unplace forgets a placement whose container could not be made, so that
// the next call places the project anew.
func (b *Bridge) unplace() {
	if b.fleet != nil && b.placed {
		_ = os.Remove(b.fleet.State.path(b.Name(), engineExt))
	}
}

// fleetCreateError says which engine lacks the workspace.
func (b *Bridge) fleetCreateError(err error, path string) error {
	return fmt.Errorf("workspace %s does not exist on engine %s (a bind mount names a path on the engine's host): make it there, for example with a shared filesystem mounted at the same path on every engine host: %w", path, b.engine, dockercli.ErrBindSource)
}

// List lists the project containers of every engine at once. Each row names
// its engine; an engine that does not answer within the deadline gives an
// *EngineError and hides nothing of the others.
func (f *Fleet) List(ctx context.Context) ([]Container, []error) {
	per := make([][]Container, len(f.Engines))
	errs := f.each(ctx, func(ctx context.Context, i int, docker *dockercli.Client) error {
		list, err := ListContainers(ctx, docker)
		for j := range list {
			list[j].Engine = f.Engines[i]
		}
		per[i] = list
		return err
	})
	rows := []Container{}
	for _, list := range per {
		rows = append(rows, list...)
	}
	return rows, errs
}

// EngineReap is one engine's part of a fleet's reap: its result, or the
// error of an engine that did not answer.
type EngineReap struct {
	Engine string `json:"engine"`
	*ReapResult
	Error string `json:"error,omitempty"`
}

// FleetReap is a reap of every engine: the sums, and each engine's part.
type FleetReap struct {
	ReapResult
	Engines []EngineReap `json:"engines"`
}

// Reap reaps every engine at once with base's settings. The state files of
// gone containers are removed only when every engine answered: a container
// of an engine that did not may well exist.
func (f *Fleet) Reap(ctx context.Context, base Reaper) (FleetReap, []error) {
	parts := make([]ReapResult, len(f.Engines))
	seen := make([]map[string]bool, len(f.Engines))
	errs := f.each(ctx, func(ctx context.Context, i int, docker *dockercli.Client) error {
		r := base
		r.Docker = docker
		res, exists, err := r.reap(ctx)
		parts[i], seen[i] = res, exists
		return err
	})
	out := FleetReap{ReapResult: ReapResult{Stopped: []string{}, Busy: []string{}, Active: []string{}, DryRun: base.DryRun}}
	exists := map[string]bool{}
	for i, engine := range f.Engines {
		part := parts[i]
		out.Checked += part.Checked
		out.Stopped = append(out.Stopped, part.Stopped...)
		out.Busy = append(out.Busy, part.Busy...)
		out.Active = append(out.Active, part.Active...)
		out.WouldStop = append(out.WouldStop, part.WouldStop...)
		row := EngineReap{Engine: engine, ReapResult: &parts[i]}
		if errs[i] != nil {
			row.Error = errors.Unwrap(errs[i]).Error()
			if part.Checked == 0 && len(part.Stopped) == 0 {
				row.ReapResult = nil
			}
		}
		out.Engines = append(out.Engines, row)
		for name := range seen[i] {
			exists[name] = true
		}
	}
	if !base.DryRun && !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		out.Forgotten = base.forgetGone(base.now()(), exists)
	}
	return out, errs
}

// StatusRow is one container in status --all.
type StatusRow struct {
	Engine       string `json:"engine,omitempty"`
	Name         string `json:"name"`
	Project      string `json:"project"`
	Running      bool   `json:"running"`
	State        string `json:"state"`
	Status       string `json:"status"`
	Image        string `json:"image"`
	LastActivity string `json:"last_activity,omitempty"`
}

// StatusAll is the state of every project container of one engine, in one
// docker ps, with the last activity the state directory knows.
func StatusAll(ctx context.Context, docker *dockercli.Client, state *State) ([]StatusRow, error) {
	out, err := docker.Ps(ctx, true, `{{.Names}}\t{{.Label "`+ProjectLabel+`"}}\t{{.State}}\t{{.Status}}\t{{.Image}}`, ProjectLabel)
	if err != nil {
		return nil, err
	}
	rows := []StatusRow{}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 5 || f[0] == "" || isProxyOf(f[0], f[1]) {
			continue
		}
		r := StatusRow{Name: f[0], Project: f[1], State: f[2], Running: f[2] == "running", Status: f[3], Image: f[4]}
		if last, ok := state.LastActivity(r.Name); ok {
			r.LastActivity = last.Local().Format("2006-01-02T15:04:05.000000")
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// StatusAll is StatusAll of every engine at once, each row naming its
// engine.
func (f *Fleet) StatusAll(ctx context.Context) ([]StatusRow, []error) {
	per := make([][]StatusRow, len(f.Engines))
	errs := f.each(ctx, func(ctx context.Context, i int, docker *dockercli.Client) error {
		rows, err := StatusAll(ctx, docker, f.State)
		for j := range rows {
			rows[j].Engine = f.Engines[i]
		}
		per[i] = rows
		return err
	})
	rows := []StatusRow{}
	for _, r := range per {
		rows = append(rows, r...)
	}
	return rows, errs
}

// PinError refuses a pinned engine for a project whose container is on
// another engine: a second container there would split the project.
type PinError struct {
	Name, Pin, Holder string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("%s is on engine %s, not %s: a container made on %s would be a second one; use %s, or remove the one there first", e.Name, e.Holder, e.Pin, e.Pin, e.Holder)
}
