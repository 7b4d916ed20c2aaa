package dockercli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Errors a caller branches on. Classify maps docker's texts onto them.
var (
	ErrNoSuchContainer = errors.New("no such container")
	ErrNotRunning      = errors.New("container is not running")
	ErrNameConflict    = errors.New("container name already in use")
	ErrNoSuchImage     = errors.New("no such image")
	ErrDaemon          = errors.New("docker daemon unreachable")
	ErrRuntime         = errors.New("container runtime failed")
	// ErrRestarting is a container whose main process keeps exiting: docker
	// restarts it in a loop and refuses every exec meanwhile.
	ErrRestarting = errors.New("container is restarting")
	// ErrBindSource is a --mount bind whose source is missing on the
	// engine's host: unlike -v, --mount refuses it instead of making it.
	ErrBindSource = errors.New("bind source path does not exist")
	// ErrNoContext is a --context that names no docker context.
	ErrNoContext = errors.New("no such docker context")
)

var noContextRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`context "([^"]*)": context not found`)
})

var notRunningRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`container \S+ is not running`)
})

// Classify recognises docker's own error texts, across engine versions and
// podman. It returns nil when the text is not one of them.
func Classify(stderr string) error {
	s := strings.ToLower(stderr)
	switch {
	case strings.Contains(s, "cannot connect to the docker daemon"),
		strings.Contains(s, "error during connect"),
		strings.Contains(s, "is the docker daemon running"),
		strings.Contains(s, "permission denied while trying to connect to the docker daemon"),
		strings.Contains(s, "cannot connect to podman"):
		return ErrDaemon
	case strings.Contains(s, "is already in use by container"),
		strings.Contains(s, "the container name") && strings.Contains(s, "is already in use"):
		return ErrNameConflict
	case strings.Contains(s, "no such container"),
		strings.Contains(s, "no container with name or id"):
		return ErrNoSuchContainer
	case strings.Contains(s, "is restarting, wait until the container is running"):
		return ErrRestarting
	// Before engine 25: "Container <id> is not running"; since: "container
	// <id> is not running". Podman: "can only create exec sessions on running
	// containers". A paused container cannot exec either. The container word
	// is required: a command's own "Error: the server is not running" must
	// pass through as its output, not be retried as docker's.
	case notRunningRE().MatchString(s),
		strings.Contains(s, "can only create exec sessions on running containers"),
		strings.Contains(s, "is paused, unpause the container"):
		return ErrNotRunning
	case strings.Contains(s, "unable to find image"),
		strings.Contains(s, "no such image"),
		strings.Contains(s, "pull access denied"),
		strings.Contains(s, "repository does not exist"),
		strings.Contains(s, "manifest unknown"),
		strings.Contains(s, "image not known"): // podman
		return ErrNoSuchImage
	case strings.Contains(s, "context not found"):
		return ErrNoContext
	case strings.Contains(s, "bind source path does not exist"):
		return ErrBindSource
	case strings.Contains(s, "oci runtime"),
		strings.Contains(s, "runtime exec failed"):
		return ErrRuntime
	}
	return nil
}

// CmdError is a docker invocation that failed. Its message carries docker's
// own first meaningful stderr line; it unwraps to the classified error.
type CmdError struct {
	Args   []string
	Code   int
	Stderr string
	Kind   error // from Classify; may be nil
	// Msg, when set, replaces docker's line: the caller knows better what
	// went wrong (an image without bash, a container in a restart loop).
	Msg string
}

func (e *CmdError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	// docker's own line goes on to the hashed path of a file it did not find.
	if m := noContextRE().FindStringSubmatch(e.Stderr); m != nil && e.Kind == ErrNoContext {
		return fmt.Sprintf("no docker context %q (see docker context ls)", m[1])
	}
	verb := "docker"
	if len(e.Args) > 1 {
		verb = e.Args[0] + " " + e.Args[1]
	}
	if line := ErrorLine(e.Stderr); line != "" {
		return fmt.Sprintf("%s: %s", verb, line)
	}
	return fmt.Sprintf("%s: exit status %d", verb, e.Code)
}

func (e *CmdError) Unwrap() error { return e.Kind }

// FirstLine is the first non-blank line of a program's output, trimmed: the
// line an error message quotes.
func FirstLine(s string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// ErrorLine returns the most telling line of docker's stderr: the first
// one that names an error, else the first non-empty one, without the
// "docker:" and "Error response from daemon:" prefixes that only add noise.
func ErrorLine(stderr string) string {
	var first string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if first == "" {
			first = l
		}
		if strings.Contains(strings.ToLower(l), "error") {
			first = l
			break
		}
	}
	for _, p := range []string{"docker: ", "Error response from daemon: ", "Error: ", "Error ", "error: "} {
		first = strings.TrimPrefix(first, p)
	}
	return strings.TrimSuffix(first, ".")
}
