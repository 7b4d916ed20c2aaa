package tmuxcli

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"

	"dockerbridge/dockercli"
)

// transcriptScript is the pipe-pane program that records a pane's output,
// bounded (see the script).
//
//go:embed scripts/transcript.bash
var transcriptScript string

// DefaultTranscriptMax is the size at which a transcript is rotated: a
// transcript keeps between this and twice this of the pane's last output.
const DefaultTranscriptMax = 8 << 20

// ErrNoTranscript: the session was not started with a transcript.
var ErrNoTranscript = errors.New("no transcript")

// pipeCommand is the shell command pipe-pane runs to record a pane into
// path, rotated at max bytes. tmux runs it with sh -c.
func pipeCommand(path string, max int64) string {
	return "exec bash -c " + ShellQuote(transcriptScript) + " dockerbridge-transcript " +
		ShellQuote(path) + " " + strconv.FormatInt(max, 10)
}

// pipeArgs starts recording target's output into path (-o: only if the
// pane is not recorded already).
func pipeArgs(target, path string, max int64) []string {
	return []string{"pipe-pane", "-o", "-t", target, arg(pipeCommand(path, max))}
}

// TranscriptPath is where session name of this server records its output:
// LogDir/<socket>/<name>.log, or "" when the server has no LogDir.
func (s *Server) TranscriptPath(name string) string {
	if s.LogDir == "" {
		return ""
	}
	return s.LogDir + "/" + s.socket() + "/" + name + ".log"
}

// transcriptRead prints the rotated part, then the current one.
//
//go:embed scripts/log.bash
var transcriptRead string

// transcriptNone is transcriptRead's one exit code of its own: the session
// has no transcript.
const transcriptNone = 3

// Transcript writes session name's transcript to w, oldest first: what is
// left of the rotated part, then the current one. One call.
func (s *Server) Transcript(ctx context.Context, name string, w io.Writer) error {
	path := s.TranscriptPath(name)
	if path == "" {
		return fmt.Errorf("tmux log %s: %w", name, ErrNoTranscript)
	}
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	errb := dockercli.NewCapBuffer(16 << 10)
	code, err := s.Runner.Run(cctx, dockercli.Cmd{
		Args:   []string{"bash", "-c", transcriptRead, "dockerbridge-log", path},
		Stdout: w, Stderr: errb,
	})
	if err != nil {
		return fmt.Errorf("tmux log %s: %w", name, err)
	}
	switch code {
	case 0:
		return nil
	case transcriptNone:
		return fmt.Errorf("tmux log: session %s has %w (start it with tmux new --log)", name, ErrNoTranscript)
	}
	return fmt.Errorf("tmux log %s: exit status %d: %s", name, code, dockercli.FirstLine(errb.String()))
}

// escRE matches the terminal control sequences a transcript holds: CSI
// (colours, cursor moves), OSC (titles) and the two-byte escapes.
var escRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("\x1b\\[[0-9:;<=>?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(\x07|\x1b\\\\)|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\\\-_=>78]")
})

// Plain strips control sequences from a transcript and turns CRLF into LF,
// dropping other carriage returns and the other control bytes but tab and
// newline, so that it reads as text.
func Plain(b []byte) []byte {
	b = escRE().ReplaceAll(b, nil)
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			continue
		}
		out = append(out, c)
	}
	return out
}
