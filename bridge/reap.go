package bridge

import (
	"context"
	"fmt"
	"slices"
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
}

// Reaper stops containers that have sat idle.
type Reaper struct {
	Docker *dockercli.Client
	State  *State
	Idle   time.Duration
	Now    func() time.Time
	// Projects, when set, limits the reap to these projects' containers.
	Projects []string
}

// Reap stops every running container with the project label whose last
// activity (recorded in the state directory, else its start) is older than
// Idle. It makes at most three docker calls whatever their number: one ps,
// one inspect of the candidates, one stop of all of them. A container with
// an operation in flight is never stopped: the reaper holds each one's
// activity lock exclusively from its last check until the stop returns.
func (r *Reaper) Reap(ctx context.Context) (ReapResult, error) {
	res := ReapResult{Stopped: []string{}, Busy: []string{}, Active: []string{}}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	format := "{{.Names}}"
	if len(r.Projects) > 0 {
		format += `\t{{.Label "` + ProjectLabel + `"}}`
	}
	out, err := r.Docker.Ps(ctx, false, format, ProjectLabel)
	if err != nil {
		return res, err
	}
	var candidates []string
	for _, line := range strings.Split(out, "\n") {
		name, project, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if name == "" || (len(r.Projects) > 0 && !slices.Contains(r.Projects, project)) {
			continue
		}
		res.Checked++
		if last, ok := r.State.LastActivity(name); ok && now().Sub(last) < r.Idle {
			res.Active = append(res.Active, name)
			continue
		}
		candidates = append(candidates, name)
	}
	if len(candidates) == 0 {
		return res, nil
	}
	// A container restarted by hand counts from its start.
	started := map[string]time.Time{}
	out, err = r.Docker.Inspect(ctx, `{{.Name}}{{"\t"}}{{.State.StartedAt}}`, candidates...)
	if err != nil && out == "" {
		return res, err
	}
	for _, line := range strings.Split(out, "\n") {
		name, at, ok := strings.Cut(line, "\t")
		if t, err := time.Parse(time.RFC3339Nano, at); ok && err == nil {
			started[strings.TrimPrefix(name, "/")] = t
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
		at, ok := started[name]
		if !ok {
			continue // gone since ps
		}
		if now().Sub(at) < r.Idle {
			res.Active = append(res.Active, name)
			continue
		}
		release, err := r.State.Claim(name)
		if err != nil {
			res.Busy = append(res.Busy, name)
			continue
		}
		// Re-check under the claim: an operation may have ended just now.
		if last, ok := r.State.LastActivity(name); ok && now().Sub(last) < r.Idle {
			release()
			res.Active = append(res.Active, name)
			continue
		}
		releases = append(releases, release)
		stop = append(stop, name)
	}
	if len(stop) == 0 {
		return res, nil
	}
	out, err = r.Docker.Output(ctx, dockercli.StopArgs(-1, stop...)...)
	for _, name := range strings.Fields(out) {
		res.Stopped = append(res.Stopped, name)
	}
	if err != nil {
		return res, fmt.Errorf("reap: %w", err)
	}
	return res, nil
}
