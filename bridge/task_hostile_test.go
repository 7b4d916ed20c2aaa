package bridge

import (
	"strings"
	"testing"
)

// A prompt longer than the row it is typed on wraps onto the rows below,
// which a program that echoes what it reads fills with the rest of the
// prompt: that is not the agent's answer, and a --wait prompt:REGEX that
// the prompt itself matches must not end the task.
func TestScreenAnswerSkipsTheWrappedPrompt(t *testing.T) {
	prompt := strings.Repeat("x", 90) + " reply DONE"
	base := shot(pane{cx: 7, cy: 1, hist: 3, rows: []string{"hello", "agent> ", ""}})
	// The fake's panes are 80 columns wide: 73 columns after "agent> ".
	typed := []string{"hello", "agent> " + prompt[:73], prompt[73:]}
	for _, tc := range []struct {
		name string
		now  pane
		want string
	}{
		{"echo only", pane{cy: 3, hist: 3, rows: append(typed, "")}, ""},
		{"answer after the echo", pane{cy: 4, hist: 3, rows: append(typed, "DONE", "")}, "DONE\n"},
		{"scrolled by one", pane{cy: 3, hist: 4, rows: append(typed[1:], "working", "")}, "working\n"},
		{"other text where the echo would be", pane{cy: 3, hist: 3, rows: []string{"hello", "agent> ", "DONE", ""}}, "DONE\n"},
	} {
		if got := shot(tc.now).answer(base, prompt); got != tc.want {
			t.Errorf("%s: answer = %q, want %q", tc.name, got, tc.want)
		}
	}
}
