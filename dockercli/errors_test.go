package dockercli

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Texts as docker and podman print them, not paraphrased.
const (
	notRunningPre25 = "Error response from daemon: Container 3f2a5c8e1b7d4a6f9e0c2b1a8d7f6e5c4b3a2918e7d6c5b4a3f2e1d0c9b8a7f6 is not running"
	notRunning25    = "Error response from daemon: container 3f2a5c8e1b7d4a6f9e0c2b1a8d7f6e5c4b3a2918e7d6c5b4a3f2e1d0c9b8a7f6 is not running"
	noSuchCLI       = "Error: No such container: luzia-x"
	noSuchDaemon    = "Error response from daemon: No such container: luzia-x"
	conflict        = `docker: Error response from daemon: Conflict. The container name "/luzia-x" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name.` + "\nSee 'docker run --help'.\n"
	daemonDown      = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
	missingImage    = "Unable to find image 'nope:latest' locally\ndocker: Error response from daemon: pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied.\nSee 'docker run --help'.\n"
	ociExec         = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"bash\": executable file not found in $PATH: unknown\n"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   error
	}{
		{"not running, engine before 25", notRunningPre25, ErrNotRunning},
		{"not running, engine 25 and later", notRunning25, ErrNotRunning},
		{"not running, by name", "Error response from daemon: container luzia-x is not running\n", ErrNotRunning},
		{"paused", "Error response from daemon: Container 3f2a is paused, unpause the container before exec\n", ErrNotRunning},
		{"no such container, CLI", noSuchCLI, ErrNoSuchContainer},
		{"no such container, daemon", noSuchDaemon + "\n", ErrNoSuchContainer},
		{"no such container, start", noSuchDaemon + "\nError: failed to start containers: luzia-x\n", ErrNoSuchContainer},
		{"no such container, inspect", "[]\nError: No such container: luzia-x\n", ErrNoSuchContainer},
		{"conflict", conflict, ErrNameConflict},
		{"daemon down", daemonDown, ErrDaemon},
		{"daemon down, remote", "Cannot connect to the Docker daemon at tcp://10.0.0.5:2375. Is the docker daemon running?\n", ErrDaemon},
		{"daemon unreachable, context", `error during connect: Get "http://10.0.0.5:2375/v1.24/containers/json": dial tcp 10.0.0.5:2375: connect: connection refused` + "\n", ErrDaemon},
		{"daemon socket not permitted, before 25", `Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/json": dial unix /var/run/docker.sock: connect: permission denied` + "\n", ErrDaemon},
		{"daemon socket not permitted, 25 and later", `permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Head "http://%2Fvar%2Frun%2Fdocker.sock/_ping": dial unix /var/run/docker.sock: connect: permission denied` + "\n", ErrDaemon},
		{"missing image", missingImage, ErrNoSuchImage},
		{"missing image, pull never", "docker: Error response from daemon: No such image: nope:latest.\nSee 'docker run --help'.\n", ErrNoSuchImage},
		{"missing tag", "docker: Error response from daemon: manifest for luzia-sandbox:nope not found: manifest unknown: manifest unknown.\n", ErrNoSuchImage},
		{"OCI runtime exec failed", ociExec, ErrRuntime},
		{"OCI runtime create failed", "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"tail\": executable file not found in $PATH: unknown.\n", ErrRuntime},

		{"podman no such container", `Error: no container with name or ID "luzia-x" found: no such container` + "\n", ErrNoSuchContainer},
		{"podman not running", "Error: can only create exec sessions on running containers: container state improper\n", ErrNotRunning},
		{"podman conflict", `Error: creating container storage: the container name "luzia-x" is already in use by 3f2a5c8e1b7d. You have to remove that container to be able to reuse that name: that name is already in use` + "\n", ErrNameConflict},
		{"podman daemon down", "Cannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM\nError: unable to connect to Podman socket: dial unix /run/user/1000/podman/podman.sock: connect: no such file or directory\n", ErrDaemon},
		{"podman missing image", "Error: nope:latest: image not known\n", ErrNoSuchImage},

		// A command's own stderr, passed through by exec: none is docker's.
		{"empty", "", nil},
		{"command error", "Error: file not found\n", nil},
		{"command error, no newline", "Error: file not found", nil},
		{"git", "error: pathspec 'nope' did not match any file(s) known to git\n", nil},
		{"bash", "bash: line 1: nope: command not found\n", nil},
		{"ls", "ls: cannot access 'x': No such file or directory\n", nil},
		{"node", "Error: Cannot find module 'express'\n", nil},
		{"a service of the command's", "Error: the dev server is not running\n", nil},
		{"tmux", "no server running on /tmp/tmux-1000/default\n", nil},
		{"python", "ConnectionRefusedError: [Errno 111] Connection refused\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.stderr); got != tt.want {
				t.Errorf("Classify(%q) = %v, want %v", tt.stderr, got, tt.want)
			}
		})
	}
}

func TestErrorLine(t *testing.T) {
	tests := []struct {
		stderr string
		want   string
	}{
		{"", ""},
		{"\n  \n", ""},
		{noSuchCLI, "No such container: luzia-x"},
		{noSuchDaemon + "\nError: failed to start containers: luzia-x\n", "No such container: luzia-x"},
		{notRunningPre25, "Container 3f2a5c8e1b7d4a6f9e0c2b1a8d7f6e5c4b3a2918e7d6c5b4a3f2e1d0c9b8a7f6 is not running"},
		{conflict, `Conflict. The container name "/luzia-x" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name`},
		{daemonDown, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"},
		{missingImage, "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"},
		{"\n  warning: low disk\n", "warning: low disk"},
		{"WARNING: something\nerror: bad thing\n", "bad thing"},
	}
	for _, tt := range tests {
		if got := ErrorLine(tt.stderr); got != tt.want {
			t.Errorf("ErrorLine(%q) = %q, want %q", tt.stderr, got, tt.want)
		}
	}
}

type runnerFunc func(Cmd) int

func (f runnerFunc) Run(_ context.Context, c Cmd) (int, error) { return f(c), nil }

// failWith is a Runner that prints stderr and exits with code.
func failWith(code int, stderr string) Runner {
	return runnerFunc(func(c Cmd) int {
		if c.Stderr != nil {
			_, _ = io.WriteString(c.Stderr, stderr)
		}
		return code
	})
}

func TestClientError(t *testing.T) {
	tests := []struct {
		name    string
		runner  Runner
		call    func(*Client) error
		wantMsg string
		want    *CmdError
		kind    error
	}{
		{
			name:    "inspect of a missing container",
			runner:  failWith(1, "[]\n"+noSuchCLI+"\n"),
			call:    func(c *Client) error { _, err := c.Inspect(t.Context(), "", "luzia-x"); return err },
			wantMsg: "docker container inspect: No such container: luzia-x",
			want:    &CmdError{Args: []string{"docker", "container inspect"}, Code: 1, Stderr: "[]\n" + noSuchCLI + "\n", Kind: ErrNoSuchContainer},
			kind:    ErrNoSuchContainer,
		},
		{
			name:   "run conflict",
			runner: failWith(125, conflict),
			call: func(c *Client) error {
				_, err := c.Run(t.Context(), RunSpec{Name: "luzia-x", Image: "img"})
				return err
			},
			wantMsg: `docker run: Conflict. The container name "/luzia-x" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name`,
			want:    &CmdError{Args: []string{"docker", "run"}, Code: 125, Stderr: conflict, Kind: ErrNameConflict},
			kind:    ErrNameConflict,
		},
		{
			name:    "daemon down",
			runner:  failWith(1, daemonDown),
			call:    func(c *Client) error { _, err := c.Ps(t.Context(), false, "", "luzia.project"); return err },
			wantMsg: "docker ps: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
			want:    &CmdError{Args: []string{"docker", "ps"}, Code: 1, Stderr: daemonDown, Kind: ErrDaemon},
			kind:    ErrDaemon,
		},
		{
			name:    "silent failure",
			runner:  failWith(3, ""),
			call:    func(c *Client) error { return c.Start(t.Context(), "luzia-x") },
			wantMsg: "docker start: exit status 3",
			want:    &CmdError{Args: []string{"docker", "start"}, Code: 3},
		},
		{
			name:    "unclassified",
			runner:  failWith(1, "Error response from daemon: something new\n"),
			call:    func(c *Client) error { return c.Remove(t.Context(), "luzia-x") },
			wantMsg: "docker rm: something new",
			want:    &CmdError{Args: []string{"docker", "rm"}, Code: 1, Stderr: "Error response from daemon: something new\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(&Client{Runner: tt.runner})
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			var ce *CmdError
			if !errors.As(err, &ce) {
				t.Fatalf("errors.As(%v, *CmdError) = false", err)
			}
			if diff := cmp.Diff(*tt.want, *ce, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("CmdError (-want +got):\n%s", diff)
			}
			for _, kind := range []error{ErrNoSuchContainer, ErrNotRunning, ErrNameConflict, ErrNoSuchImage, ErrDaemon, ErrRuntime} {
				if got, want := errors.Is(err, kind), kind == tt.kind; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", kind, got, want)
				}
			}
		})
	}
}

// A stderr larger than the kept bound still classifies and still names the
// error: docker's own line comes first.
func TestClientErrorLongStderr(t *testing.T) {
	long := noSuchCLI + "\n" + strings.Repeat("x", 3*StderrKeep)
	c := &Client{Runner: failWith(1, long)}
	_, err := c.Inspect(t.Context(), "", "luzia-x")
	if !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("err = %v, want ErrNoSuchContainer", err)
	}
	var ce *CmdError
	if errors.As(err, &ce) && len(ce.Stderr) > StderrKeep+100 {
		t.Errorf("kept %d bytes of stderr, want at most about %d", len(ce.Stderr), StderrKeep)
	}
}

// The runner's own failure (no binary, a context that ended) is wrapped
// with the verb and keeps its cause.
func TestClientOutputRunnerError(t *testing.T) {
	c := &Client{Bin: "podman", Runner: runnerErr{ErrNotFound}}
	_, err := c.Inspect(t.Context(), "", "x")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if got, want := err.Error(), "podman container inspect: "+ErrNotFound.Error(); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

type runnerErr struct{ err error }

func (r runnerErr) Run(context.Context, Cmd) (int, error) { return -1, r.err }

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "\n \t\n": "", "one": "one", "  one  \ntwo": "one",
		"\n\n  fatal: not a git repository\nmore\n": "fatal: not a git repository",
		"Error: x.\n": "Error: x.",
	} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// A --context that names no context: docker's line ends in the hashed path
// of a meta.json; the error names the context and nothing else.
func TestClientErrorNoContext(t *testing.T) {
	c := &Client{Context: "nosuch"}
	stderr := `Failed to initialize: unable to resolve docker endpoint: context "nosuch": context not found: open /root/.docker/contexts/meta/d998a1478620faa90192f878a2631069886a16c2cef3e51622afa746079d49a1/meta.json: no such file or directory` + "\n"
	err := c.Error([]string{"ps"}, 1, stderr)
	if !errors.Is(err, ErrNoContext) {
		t.Errorf("%v is not ErrNoContext", err)
	}
	if got, want := err.Error(), `no docker context "nosuch" (see docker context ls)`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
