package bridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// ReapResult says what a reap did.
type ReapResult struct {
	Checked int      `json:"checked"`
	Stopped []string `json:"stopped"`
	Busy    []string `json:"busy"`
	Active  []string `json:"active"`
	// DryRun and WouldStop: with Reaper.DryRun, what a reap would stop.
	DryRun    bool          `json:"dry_run,omitempty"`
	WouldStop []IdleSummary `json:"would_stop,omitempty"`
	// Forgotten are containers that no longer exist whose activity and lock
	// files the reap removed.
	Forgotten []string `json:"forgotten,omitempty"`
	// StoppedProxies are egress proxies stopped with their container, or
	// because their container was not running.
	StoppedProxies []string `json:"stopped_proxies,omitempty"`
}

// IdleSummary is a container and how long it has been idle.
type IdleSummary struct {
	Name        string `json:"name"`
	IdleSeconds int64  `json:"idle_seconds"`
}

// Reaper stops containers that have sat idle.
type Reaper struct {
	Docker *dockercli.Client
	State  *State
	Idle   time.Duration
	Now    func() time.Time
	// Projects, when set, limits the reap to these projects' containers.
	Projects []string
	// Prefix limits the reap to containers whose name starts with it (with
	// Projects: named Prefix+project), unless AnyPrefix is set.
	Prefix    string
	AnyPrefix bool
	// DryRun stops nothing and removes nothing: the result says what would
	// be stopped.
	DryRun bool
}

// inScope reports whether a labelled container is the reaper's to touch.
func (r *Reaper) inScope(name, project string) bool {
	if !r.AnyPrefix && !strings.HasPrefix(name, r.Prefix) {
		return false
	}
	if len(r.Projects) == 0 {
		return true
	}
	if !slices.Contains(r.Projects, project) {
		return false
	}
	return r.AnyPrefix || name == r.Prefix+project
}

// Reap stops every running container with the project label, in its scope,
// whose last activity (recorded in the state directory, else its start) is
// older than Idle. It makes at most three docker calls whatever their
// number: one ps, one inspect of the candidates, one stop of all of them. A
// container with an operation in flight is never stopped: the reaper holds
// each one's activity lock exclusively from its last check until the stop
// returns, and it asks the engine whether an exec runs in the container,
// which also covers callers with another state directory.
func (r *Reaper) Reap(ctx context.Context) (ReapResult, error) {
	res, exists, err := r.reap(ctx)
	if err == nil && !r.DryRun {
		res.Forgotten = r.forgetGone(r.now()(), exists)
	}
	return res, err
}

func (r *Reaper) now() func() time.Time {
	if r.Now != nil {
		return r.Now
	}
	return time.Now
}

// reap stops the idle containers and returns the names of all those the
// engine has, for forgetGone.
func (r *Reaper) reap(ctx context.Context) (ReapResult, map[string]bool, error) {
	res := ReapResult{Stopped: []string{}, Busy: []string{}, Active: []string{}, DryRun: r.DryRun}
	now := r.now()
	format := `{{.Names}}\t{{.State}}\t{{.Label "` + ProjectLabel + `"}}`
	out, err := r.Docker.Ps(ctx, true, format, ProjectLabel)
	if err != nil {
		return res, nil, err
	}
	exists := map[string]bool{}
	running := map[string]bool{}
	proxies := map[string]string{} // running proxy -> its container
	var candidates []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		name, state, project := f[0], f[1], f[2]
		exists[name] = true
		running[name] = state == "running" || state == "paused" || state == "restarting"
		if isProxyOf(name, project) {
			// Not reaped on its own: it goes with its container.
			if ctr := strings.TrimSuffix(name, ProxySuffix); running[name] && r.inScope(ctr, project) {
				proxies[name] = ctr
			}
			continue
		}
		// docker ps without -a lists these three: the ones that can be stopped.
		if !r.inScope(name, project) || (state != "running" && state != "paused" && state != "restarting") {
			continue
		}
		res.Checked++
		if last, ok := r.State.LastActivity(name); ok && now().Sub(last) < r.Idle {
			res.Active = append(res.Active, name)
			continue
		}
		candidates = append(candidates, name)
	}
	if len(candidates) > 0 {
		if err := r.stopIdle(ctx, now, candidates, &res); err != nil {
			return res, exists, err
		}
	}
	if !r.DryRun {
		if err := r.stopProxies(ctx, proxies, running, &res); err != nil {
			return res, exists, err
		}
	}
	return res, exists, nil
}

// stopProxies stops the running egress proxies whose container was just
// stopped or is not running, in one docker call, and none when there are
// none: a reap of containers without egress makes no more calls than before.
func (r *Reaper) stopProxies(ctx context.Context, proxies map[string]string, running map[string]bool, res *ReapResult) error {
	var stop []string
	for proxy, ctr := range proxies {
		if !running[ctr] || slices.Contains(res.Stopped, ctr) {
			stop = append(stop, proxy)
		}
	}
	if len(stop) == 0 {
		return nil
	}
	slices.Sort(stop)
	out, err := r.Docker.Output(ctx, dockercli.StopArgs(-1, stop...)...)
	res.StoppedProxies = append(res.StoppedProxies, strings.Fields(out)...)
	if err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	return nil
}

func (r *Reaper) stopIdle(ctx context.Context, now func() time.Time, candidates []string, res *ReapResult) error {
	// A container restarted by hand counts from its start. An exec the
	// engine still runs makes a container busy, whoever started it.
	type seen struct {
		started time.Time
		execs   int
	}
	inspected := map[string]seen{}
	out, err := r.Docker.Inspect(ctx, `{{.Name}}{{"\t"}}{{.State.StartedAt}}{{"\t"}}{{len .ExecIDs}}`, candidates...)
	if err != nil && out == "" {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		t, err1 := time.Parse(time.RFC3339Nano, f[1])
		n, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			inspected[strings.TrimPrefix(f[0], "/")] = seen{t, n}
		}
	}
	var stop []string
	var releases []func()
	defer func() {
		for _, release := range releases {
			release()
		}
	}()
	for _, name := range candidates {
		s, ok := inspected[name]
		if !ok {
			continue // gone since ps
		}
		if now().Sub(s.started) < r.Idle {
			res.Active = append(res.Active, name)
			continue
		}
		if s.execs > 0 {
			res.Busy = append(res.Busy, name)
			continue
		}
		release, err := r.State.Claim(name)
		if err != nil {
			res.Busy = append(res.Busy, name)
			continue
		}
		// Re-check under the claim: an operation may have ended just now.
		last, ok := r.State.LastActivity(name)
		if ok && now().Sub(last) < r.Idle {
			release()
			res.Active = append(res.Active, name)
			continue
		}
		if r.DryRun {
			release()
			if !ok || s.started.After(last) {
				last = s.started
			}
			res.WouldStop = append(res.WouldStop, IdleSummary{Name: name, IdleSeconds: int64(now().Sub(last) / time.Second)})
			continue
		}
		releases = append(releases, release)
		stop = append(stop, name)
	}
	if len(stop) == 0 {
		return nil
	}
	out, err = r.Docker.Output(ctx, dockercli.StopArgs(-1, stop...)...)
	for _, name := range strings.Fields(out) {
		res.Stopped = append(res.Stopped, name)
	}
	if err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	return nil
}

// forgetGone removes the state files of containers in the reaper's scope
// that the engine no longer has. Only files idle for longer than Idle go: a
// newer one may belong to a container being created right now.
func (r *Reaper) forgetGone(now time.Time, exists map[string]bool) []string {
	var gone []string
	for _, name := range r.State.Names() {
		if exists[name] || !r.ownsName(name) {
			continue
		}
		if last, ok := r.State.LastTouched(name); ok && now.Sub(last) < r.Idle {
			continue
		}
		if r.State.Forget(name) {
			gone = append(gone, name)
		}
	}
	return gone
}

// ownsName reports whether a container name, whose label is unknown, is in
// the reaper's scope.
func (r *Reaper) ownsName(name string) bool {
	if len(r.Projects) == 0 {
		return r.AnyPrefix || strings.HasPrefix(name, r.Prefix)
	}
	for _, p := range r.Projects {
		if name == r.Prefix+p {
			return true
		}
	}
	return false
}
