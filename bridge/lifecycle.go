package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// Ensure makes the container run and reports whether it had to start it.
// Under the per-project lock it inspects once, then starts a stopped
// container or runs a new one. A name conflict means another host process
// (or a caller with another state directory) won the race: the container is
// reused, never an error. No fixed sleep follows: docker run -d returns once
// the process runs, and exec works from then on.
func (b *Bridge) Ensure(ctx context.Context) (bool, error) {
	name := b.Name()
	unlock, err := b.state.Lock(ctx, name)
	if err != nil {
		return false, err
	}
	defer unlock()
	out, err := b.docker.Inspect(ctx, "{{.State.Status}}", name)
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		moved, rerr := b.relocate(ctx)
		if rerr != nil {
			return false, rerr
		}
		if moved {
			out, err = b.docker.Inspect(ctx, "{{.State.Status}}", name)
		}
	}
	state := strings.TrimSpace(out)
	switch {
	case err == nil && state == "running":
		return false, nil
	case err == nil && state == "restarting":
		return false, b.restarting()
	case err == nil && state == "paused":
		return false, &dockercli.CmdError{Args: []string{"docker", "start"}, Code: 1, Kind: dockercli.ErrNotRunning,
			Msg: fmt.Sprintf("container %s is paused: resume it with `docker unpause %s`", name, name)}
	case err == nil:
		// The proxy first: a container that runs without it has no way
		// out, which is safe, but useless until it comes.
		if policy := b.knownEgress(); !policy.Empty() {
			if err := b.startProxy(ctx, policy); err != nil {
				return false, err
			}
		}
		if err := b.docker.Start(ctx, name); err != nil {
			return false, fmt.Errorf("start %s: %w", name, err)
		}
	case errors.Is(err, dockercli.ErrNoSuchContainer):
		if err := b.create(ctx); err != nil {
			return false, err
		}
	default:
		return false, err
	}
	// The original makes the temp directory the same way, so TMPDIR works
	// before the first command. Its failure is also the first sign of a
	// main process that keeps exiting: docker run and start both succeed
	// for it.
	_, err = b.docker.Output(ctx, dockercli.ExecSpec{
		Container: name, Command: []string{"mkdir", "-p", Workspace + "/.tmp"},
	}.Args()...)
	if errors.Is(err, dockercli.ErrRestarting) {
		return false, b.restarting()
	}
	if err != nil {
		// Between two restarts docker says "running" for a moment: a
		// restart count on a container just started tells them apart.
		out, ierr := b.docker.Inspect(ctx, "{{.State.Status}} {{.RestartCount}}", name)
		state, count, _ := strings.Cut(strings.TrimSpace(out), " ")
		if ierr == nil && (state == "restarting" || (count != "" && count != "0")) {
			return false, b.restarting()
		}
	}
	return true, nil
}

// restarting is the error for a container whose main process keeps exiting.
func (b *Bridge) restarting() error {
	return &dockercli.CmdError{Args: []string{"docker", "start"}, Code: 1, Kind: dockercli.ErrRestarting, Msg: restartingMessage(b.Name())}
}

func (b *Bridge) create(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			b.unplace()
		}
	}()
	name := b.Name()
	path, err := b.hostPath(ctx)
	if err != nil {
		return err
	}
	if err := b.checkPath(path); err != nil {
		return err
	}
	if !b.egress.Empty() {
		if err := b.ensureEgress(ctx, b.egress); err != nil {
			return err
		}
	}
	_, err = b.docker.Run(ctx, b.fleetSpec(b.RunSpec(Identity{Path: path, User: b.userSpec(ctx, path)}, time.Now()), path))
	switch {
	case err == nil:
		b.recordSettings(b.settings(path))
		b.placed = false
		return nil
	case errors.Is(err, dockercli.ErrNameConflict):
		// Starting a running container is a no-op, so this covers both a
		// racing creator that has started it and one that has not yet.
		if err := b.docker.Start(ctx, name); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		return nil
	case errors.Is(err, dockercli.ErrNoSuchImage):
		return fmt.Errorf("image %s not found: build or pull it first (%w)", b.cfg.Image, err)
	case errors.Is(err, dockercli.ErrDaemon):
		return err
	case b.fleet != nil && errors.Is(err, dockercli.ErrBindSource):
		return b.fleetCreateError(err, path)
	default:
		// A run that created the container but could not start it would
		// otherwise stick: the next ensure would only retry the start.
		_ = b.docker.Remove(context.WithoutCancel(ctx), name)
		return fmt.Errorf("run %s: %w", name, err)
	}
}

// Status is the original's status dict.
type Status struct {
	Running      bool   `json:"running"`
	ContainerID  string `json:"container_id,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	User         string `json:"user,omitempty"`
	Image        string `json:"image,omitempty"`
	LastActivity string `json:"last_activity,omitempty"`
	// Exists is new: a stopped container is "running: false" but still there.
	Exists bool   `json:"exists"`
	Name   string `json:"name"`
	// Workspace is new: the host directory mounted at /workspace.
	Workspace string `json:"workspace,omitempty"`
	// State is docker's: running, restarting, paused, exited, created.
	// Running is true only for "running": a restarting or paused container
	// runs no command.
	State string `json:"state,omitempty"`
	// Engine is the docker context that holds it, in a fleet.
	Engine string `json:"engine,omitempty"`
	// Egress is the policy of an egress-controlled container, and
	// EgressProxy its proxy's state (running, exited, missing, ...):
	// when it is not running, the container reaches nothing outside.
	Egress      string `json:"egress,omitempty"`
	EgressProxy string `json:"egress_proxy,omitempty"`
}

type inspectInfo struct {
	ID    string `json:"Id"`
	State struct {
		Status     string
		Running    bool
		Restarting bool
		Paused     bool
		StartedAt  string
	}
	Config struct {
		User   string
		Image  string
		Labels map[string]string
	}
	Mounts []struct {
		Source      string
		Destination string
	}
}

// Status inspects the container once. In a fleet, it names the engine.
func (b *Bridge) Status(ctx context.Context) (Status, error) {
	name := b.Name()
	st := Status{Name: name, Engine: b.engine}
	out, err := b.docker.Inspect(ctx, "", name)
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	var infos []inspectInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) == 0 {
		return st, fmt.Errorf("inspect %s: unreadable output", name)
	}
	info := infos[0]
	st.Exists = true
	// Image and workspace say what the container was made with, running or
	// not: flags that shape a container apply only to a new one.
	st.Image = info.Config.Image
	for _, m := range info.Mounts {
		if m.Destination == Workspace {
			st.Workspace = m.Source
		}
	}
	st.State = info.State.Status
	if policy := info.Config.Labels[EgressLabel]; policy != "" {
		st.Egress = policy
		st.EgressProxy = b.proxyState(ctx)
	}
	if info.State.Restarting || info.State.Paused {
		st.State = map[bool]string{true: "restarting", false: "paused"}[info.State.Restarting]
	}
	if !info.State.Running || info.State.Restarting || info.State.Paused {
		return st, nil
	}
	st.Running = true
	st.ContainerID = info.ID[:min(12, len(info.ID))]
	st.StartedAt = info.State.StartedAt
	st.User = info.Config.User
	last, ok := b.state.LastActivity(name)
	if started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err == nil && (!ok || started.After(last)) {
		last, ok = started, true
	}
	if ok {
		st.LastActivity = last.Local().Format("2006-01-02T15:04:05.000000")
	}
	return st, nil
}

// ErrAlreadyStopped is Stop's answer for a container that was not running.
var ErrAlreadyStopped = errors.New("already stopped")

// Stop stops the container. It reports false when there was none, and
// ErrAlreadyStopped when it was not running.
func (b *Bridge) Stop(ctx context.Context) (bool, error) {
	out, err := b.docker.Inspect(ctx, "{{.State.Running}}", b.Name())
	if exists, err := found(err); !exists || err != nil {
		return false, err
	}
	if strings.TrimSpace(out) == "false" {
		return false, ErrAlreadyStopped
	}
	stopped, err := found(b.docker.Stop(ctx, -1, b.Name()))
	if err == nil && !b.knownEgress().Empty() {
		// After the container, so that it is never without its proxy
		// while it runs. The reaper stops a proxy left running too.
		_, _ = b.docker.Output(ctx, dockercli.StopArgs(-1, b.ProxyName())...)
	}
	return stopped, err
}

// Remove stops and removes the container. It reports false when there was
// none. "docker rm -f" of a missing container exits 0 (it only prints the
// error), so removal is known from the name or id it prints, not its status.
func (b *Bridge) Remove(ctx context.Context) (bool, error) {
	out, err := b.docker.Output(ctx, dockercli.RmArgs(b.Name())...)
	removed, err := found(err)
	if err != nil {
		return false, err
	}
	if !b.knownEgress().Empty() {
		if err := b.removeEgress(ctx); err != nil {
			return false, err
		}
	}
	// Its activity and lock files go with it, or with the attempt that
	// never made it (a missing image leaves them too).
	b.state.Forget(b.Name())
	return removed && strings.TrimSpace(out) != "", nil
}

func found(err error) (bool, error) {
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return false, nil
	}
	return err == nil, err
}

// Container is one row of the original's list_project_containers.
type Container struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Created string `json:"created"`
	Project string `json:"project"`
	// Engine is the docker context that holds it, in a fleet.
	Engine string `json:"engine,omitempty"`
}

// ListContainers returns every container carrying the project label,
// running or not.
func ListContainers(ctx context.Context, docker *dockercli.Client) ([]Container, error) {
	out, err := docker.Ps(ctx, true, `{{.Names}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Label "`+ProjectLabel+`"}}`, ProjectLabel)
	if err != nil {
		return nil, err
	}
	list := []Container{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		if len(f) > 3 && isProxyOf(f[0], f[3]) {
			continue // the project's egress proxy, not a project container
		}
		c := Container{Name: f[0], Status: f[1], Created: "unknown"}
		if len(f) > 2 {
			c.Created = f[2]
		}
		if len(f) > 3 {
			c.Project = f[3]
		}
		list = append(list, c)
	}
	return list, nil
}
