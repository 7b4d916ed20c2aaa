package bridge

import (
	"context"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

// tmuxLocale is given to every tmux call in the container: tmux 3.3 refuses
// to start without a UTF-8 locale, and the panes inherit the server's.
const tmuxLocale = "LANG=C.UTF-8"

// TranscriptDir is where sessions record their output in the container:
// under its TMPDIR, which snapshots and commits leave out.
const TranscriptDir = "/workspace/.tmp/dockerbridge-transcripts"

// Tmux returns the tmux server named socket ("" for the default) inside the
// project's container. Its calls start the container when needed.
func (b *Bridge) Tmux(socket string) *tmuxcli.Server {
	// A tmux call that returns at once gets --timeout when it is shorter
	// than tmuxcli's default, as docker's control calls do.
	call := tmuxcli.DefaultCallTimeout
	if b.cfg.Timeout > 0 {
		call = min(call, b.cfg.Timeout)
	}
	return &tmuxcli.Server{Runner: TmuxRunner{b: b}, Socket: socket, LogDir: TranscriptDir, CallTimeout: call}
}

// TmuxRunner runs tmux argv in the project's container through the same
// door as Exec: exec first, and ensure and retry once when the container is
// missing or stopped; never a pre-inspect.
type TmuxRunner struct{ b *Bridge }

// Run implements dockercli.Runner. The call runs under its context's
// deadline, in the container too. When the context ends first (a timeout, an
// interrupt), a call that tmuxcli says blocks (run's wait-for) has its
// process tree in the container killed at once; it would otherwise wait on.
// Other calls end by themselves: a watcher when its stdin closes. The calls
// carry no exec id: one that starts the server would hand it down to the
// server and every pane, while the server itself leaves the call's tree and
// survives the kill.
func (r TmuxRunner) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	spec := TmuxExecSpec(c)
	var needs []string
	if len(c.Args) > 0 {
		needs = c.Args[:1]
	}
	return r.b.run(ctx, call{
		argv:   spec.Command,
		needs:  needs,
		env:    spec.Env,
		stdin:  c.Stdin,
		stdout: c.Stdout,
		stderr: c.Stderr,
		keep:   !c.Blocking,
	})
}

// TmuxExecSpec is the docker exec of tmux argv c.Args: -i only when there is
// stdin (load-buffer), and the UTF-8 locale. The deadline is the door's.
func TmuxExecSpec(c dockercli.Cmd) dockercli.ExecSpec {
	return dockercli.ExecSpec{
		Interactive: c.Stdin != nil,
		Env:         append([]string{tmuxLocale}, c.Env...),
		Command:     c.Args,
	}
}
