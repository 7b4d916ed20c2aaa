package bridge

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

// tmuxLocale is given to every tmux call in the container: tmux 3.3 refuses
// to start without a UTF-8 locale, and the panes inherit the server's.
const tmuxLocale = "LANG=C.UTF-8"

// Tmux returns the tmux server named socket ("" for the default) inside the
// project's container. Its calls start the container when needed.
func (b *Bridge) Tmux(socket string) *tmuxcli.Server {
	return &tmuxcli.Server{Runner: TmuxRunner{b: b}, Socket: socket}
}

// TmuxRunner runs tmux argv in the project's container with docker exec,
// through the same lazy start as Exec: exec first, and ensure and retry once
// when the container is missing or stopped. It never runs a pre-inspect.
type TmuxRunner struct{ b *Bridge }

// Run implements dockercli.Runner. A call that blocks on a wait-for (run's)
// carries an exec id, and when its context ends before it does (a timeout,
// an interrupt) every process of it in the container is killed at once, as
// Exec does, rather than when the in-container timeout comes. Other calls
// carry none: a call that starts the server would hand the id down to the
// server and every pane, and a watcher ends by itself when its stdin closes.
func (r TmuxRunner) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	spec := TmuxExecSpec(ctx, c)
	if !blocksOnWaitFor(c.Args) {
		return r.b.inContainer(ctx, spec, c)
	}
	id := newID()
	spec.Env = append(spec.Env, ExecIDVar+"="+id)
	code, err := r.b.inContainer(ctx, spec, c)
	if err != nil && ctx.Err() != nil {
		r.b.kill(ctx, id)
	}
	return code, err
}

// blocksOnWaitFor reports whether tmux argv waits on a channel.
func blocksOnWaitFor(args []string) bool {
	for i, a := range args {
		if a == "wait-for" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return true
		}
	}
	return false
}

// TmuxExecSpec is the docker exec of tmux argv c.Args: -i only when there is
// stdin (load-buffer), the UTF-8 locale, and the in-container "timeout" of
// the call's deadline. Killing the docker client on a deadline leaves the
// process in the container running (a wait-for would wait on); timeout ends
// it there, a second after the host has given up, then kills it.
func TmuxExecSpec(ctx context.Context, c dockercli.Cmd) dockercli.ExecSpec {
	cmd := c.Args
	if deadline, ok := ctx.Deadline(); ok {
		secs := int(math.Ceil(time.Until(deadline).Seconds())) + 1
		cmd = append([]string{"timeout", "-k", "1", strconv.Itoa(max(secs, 1))}, cmd...)
	}
	return dockercli.ExecSpec{
		Interactive: c.Stdin != nil,
		Env:         append([]string{tmuxLocale}, c.Env...),
		Command:     cmd,
	}
}
