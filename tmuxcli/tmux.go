package tmuxcli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// DefaultSocket is the name of the private tmux server.
const DefaultSocket = "dockerbridge"

// Server is one tmux server reached through a Runner.
type Server struct {
	Runner dockercli.Runner
	// Bin is the tmux binary; "" means "tmux".
	Bin string
	// Socket is the -L socket name; "" means DefaultSocket.
	Socket string
	// CallTimeout bounds each tmux call; zero means 10s.
	CallTimeout time.Duration
}

// Argv is the full argv for tmux args, global flags first. -u makes tmux
// treat the terminal as UTF-8 even where no UTF-8 locale is set.
func (s *Server) Argv(args ...string) []string {
	bin, socket := s.Bin, s.Socket
	if bin == "" {
		bin = "tmux"
	}
	if socket == "" {
		socket = DefaultSocket
	}
	return append([]string{bin, "-u", "-L", socket}, args...)
}

// Output runs one tmux call under CallTimeout and returns its stdout.
func (s *Server) Output(ctx context.Context, args ...string) (string, error) {
	timeout := s.CallTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out, errb bytes.Buffer
	code, err := s.Runner.Run(ctx, dockercli.Cmd{Args: s.Argv(args...), Stdout: &out, Stderr: &errb})
	if err != nil {
		return "", fmt.Errorf("tmux %s: %w", args[0], err)
	}
	if code != 0 {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", code)
		}
		return out.String(), fmt.Errorf("tmux %s: %s", args[0], msg)
	}
	return out.String(), nil
}
