package dockercli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// StderrKeep bounds the stderr kept for error messages and classification,
// here and by the callers that capture a command's stderr themselves.
const StderrKeep = 64 << 10

// Client runs docker commands through a Runner.
type Client struct {
	Runner Runner
	// Bin is the docker-compatible CLI: "docker", "podman", a path.
	Bin string
	// Context selects a docker context ("--context NAME"); empty keeps the
	// CLI's own choice, including DOCKER_HOST.
	Context string
	// CallTimeout bounds each control call (inspect, ps, run, start, stop,
	// rm). Zero means DefaultCallTimeout.
	CallTimeout time.Duration
}

// DefaultCallTimeout is a control call's deadline when CallTimeout is zero.
const DefaultCallTimeout = 2 * time.Minute

// Argv is the full argv for docker args: the binary, global flags, args.
func (c *Client) Argv(args []string) []string {
	bin := c.Bin
	if bin == "" {
		bin = "docker"
	}
	a := []string{bin}
	if c.Context != "" {
		a = append(a, "--context", c.Context)
	}
	return append(a, args...)
}

// Stream runs docker args with the given streams and returns the exit code.
// Deadlines are the caller's: this is for exec, whose length is the user's.
func (c *Client) Stream(ctx context.Context, args []string, cmd Cmd) (int, error) {
	cmd.Args = c.Argv(args)
	return c.Runner.Run(ctx, cmd)
}

// Output runs a control call under CallTimeout and returns its stdout. A
// non-zero exit becomes a *CmdError that unwraps to the classified error.
func (c *Client) Output(ctx context.Context, args ...string) (string, error) {
	return c.output(ctx, nil, args)
}

func (c *Client) output(ctx context.Context, stdin io.Reader, args []string) (string, error) {
	timeout := c.CallTimeout
	if timeout == 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	errBuf := NewCapBuffer(StderrKeep)
	code, err := c.Runner.Run(ctx, Cmd{Args: c.Argv(args), Stdin: stdin, Stdout: &out, Stderr: errBuf})
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", c.bin(), verb(args), err)
	}
	if code != 0 {
		return out.String(), c.Error(args, code, errBuf.String())
	}
	return out.String(), nil
}

// Error builds the error for a failed call of args.
func (c *Client) Error(args []string, code int, stderr string) error {
	return &CmdError{Args: append([]string{c.bin()}, verb(args)), Code: code, Stderr: stderr, Kind: Classify(stderr)}
}

func (c *Client) bin() string {
	if c.Bin == "" {
		return "docker"
	}
	return c.Bin
}

func verb(args []string) string {
	if len(args) >= 2 && args[0] == "container" {
		return args[0] + " " + args[1]
	}
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// Run starts a detached container and returns its id.
func (c *Client) Run(ctx context.Context, spec RunSpec) (string, error) {
	out, err := c.Output(ctx, spec.Args()...)
	return strings.TrimSpace(out), err
}

// Start starts stopped containers.
func (c *Client) Start(ctx context.Context, names ...string) error {
	_, err := c.Output(ctx, StartArgs(names...)...)
	return err
}

// Stop stops containers in one call; grace < 0 keeps docker's default.
func (c *Client) Stop(ctx context.Context, grace time.Duration, names ...string) error {
	_, err := c.Output(ctx, StopArgs(grace, names...)...)
	return err
}

// Remove force-removes containers in one call.
func (c *Client) Remove(ctx context.Context, names ...string) error {
	_, err := c.Output(ctx, RmArgs(names...)...)
	return err
}

// Inspect runs one "container inspect" over names with a Go template.
func (c *Client) Inspect(ctx context.Context, format string, names ...string) (string, error) {
	return c.Output(ctx, InspectArgs(format, names...)...)
}

// Ps lists containers carrying every label filter.
func (c *Client) Ps(ctx context.Context, all bool, format string, labels ...string) (string, error) {
	return c.Output(ctx, PsArgs(all, format, labels...)...)
}
