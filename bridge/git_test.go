package bridge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTrailer(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "Task-Agent=claude", want: "Task-Agent: claude"},
		{in: "Task-Agent: claude --model x", want: "Task-Agent: claude --model x"},
		{in: "K=a=b", want: "K: a=b"},
		{in: "K=line one\nline two", want: "K: line one line two"},
		{in: " K = v ", want: "K: v"},
		{in: "novalue", err: "want KEY=VALUE"},
		{in: "K=", err: "empty value"},
		{in: "bad key=v", err: `invalid trailer key "bad key"`},
		{in: "-K=v", err: "invalid trailer key"},
		{in: "=v", err: "invalid trailer key"},
	}
	for _, tt := range tests {
		got, err := Trailer(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Trailer(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Trailer(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Trailer(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShortstat(t *testing.T) {
	tests := []struct {
		in   string
		want [3]int
	}{
		{" 3 files changed, 10 insertions(+), 2 deletions(-)", [3]int{3, 10, 2}},
		{" 1 file changed, 1 insertion(+)", [3]int{1, 1, 0}},
		{" 1 file changed, 4 deletions(-)", [3]int{1, 0, 4}},
		{" 2 files changed, 0 insertions(+), 0 deletions(-)", [3]int{2, 0, 0}},
		{"", [3]int{}},
	}
	for _, tt := range tests {
		f, i, d := shortstat(tt.in)
		if diff := cmp.Diff(tt.want, [3]int{f, i, d}); diff != "" {
			t.Errorf("shortstat(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestFields(t *testing.T) {
	kv, rest := fields("initialized=1\nid=3\nsha=abc\nmsg=a=b\n\n diff\n\nmore\n")
	want := map[string]string{"initialized": "1", "id": "3", "sha": "abc", "msg": "a=b"}
	if diff := cmp.Diff(want, kv); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if rest != " diff\n\nmore\n" {
		t.Errorf("rest = %q", rest)
	}
	kv, rest = fields("committed=0\n")
	if diff := cmp.Diff(map[string]string{"committed": "0"}, kv); diff != "" || rest != "" {
		t.Errorf("fields without a blank line (-want +got):\n%s rest=%q", diff, rest)
	}
}

func TestCheckSnapshotID(t *testing.T) {
	for _, ok := range []string{"1", "42", "abcd", "0123456789abcdef0123456789abcdef01234567"} {
		if err := checkSnapshotID(ok); err != nil {
			t.Errorf("checkSnapshotID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "abc", "-1", "../x", "HEAD", "1 2", "ABCD", "$(id)", "refs/dockerbridge/snapshots/1", "1\n"} {
		if err := checkSnapshotID(bad); err == nil {
			t.Errorf("checkSnapshotID(%q) = nil, want an error", bad)
		}
	}
}

func TestGitMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hint: something\nfatal: detected dubious ownership in repository at '/workspace'\n", "detected dubious ownership in repository at '/workspace'"},
		{"error: cannot lock ref 'refs/x'\n", "cannot lock ref 'refs/x'"},
		{"cannot restore out: it is a directory\n", "cannot restore out: it is a directory"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := gitMessage(tt.in); got != tt.want {
			t.Errorf("gitMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
