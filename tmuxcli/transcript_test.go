package tmuxcli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewArgsTranscript(t *testing.T) {
	got := NewArgs(NewOptions{Name: "a", Command: "bash", Transcript: "/x/a.log"})
	want := []string{
		"set-option", "-g", "history-limit", "50000", ";",
		"set-option", "-g", "remain-on-exit", "on", ";",
		"set-option", "-g", "status", "off", ";",
		"new-session", "-d", "-P", "-F", "#{pane_id}", "-s", "a", "-x", "200", "-y", "50",
		"-e", "PROMPT_COMMAND=" + hookScript(), "--", "bash", ";",
		"pipe-pane", "-o", "-t", "=a:", "exec bash -c " + ShellQuote(transcriptScript) + " dockerbridge-transcript /x/a.log 8388608",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without a transcript nothing is piped.
	for _, a := range NewArgs(NewOptions{Name: "a"}) {
		if a == "pipe-pane" {
			t.Error("pipe-pane without a transcript")
		}
	}
}

func TestTranscriptPath(t *testing.T) {
	if got := (&Server{}).TranscriptPath("a"); got != "" {
		t.Errorf("no LogDir: %q", got)
	}
	if got, want := (&Server{LogDir: "/l", Socket: "s"}).TranscriptPath("a"), "/l/s/a.log"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPlain(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"\x1b[31mred\x1b[0m\r\n", "red\n"},
		{"\x1b]0;title\x07\x1b[?2004hbash$ ", "bash$ "},
		{"a\tb\x1b(Bc\x1b=\x08\n", "a\tbc\n"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
	} {
		if got := string(Plain([]byte(tt.in))); got != tt.want {
			t.Errorf("Plain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
