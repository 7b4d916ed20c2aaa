package bridge

import (
	"regexp"
	"testing"
)

// The name rules are checked by hand; these are the patterns they stand
// for, which the hand-written checks must agree with on every input.
var (
	containerNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	envNamePattern       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func TestNameRulesMatchPatterns(t *testing.T) {
	inputs := []string{
		"", "a", "A", "0", "_", ".", "-", "a_b", "a.b", "a-b", "_a", ".a", "-a", "0a", "a0", "A_9",
		"luzia-proj.1", "a b", "a\n", "a/b", "a$", "é", "aé", "a\x00", "a=b", "ab_", "a..", "Z", "z", "9",
		"@", "[", "`", "{", "/", ":",
	}
	for _, s := range inputs {
		if got, want := containerName(s), containerNamePattern.MatchString(s); got != want {
			t.Errorf("containerName(%q) = %v, want %v", s, got, want)
		}
		if got, want := envName(s), envNamePattern.MatchString(s); got != want {
			t.Errorf("envName(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"", "a", "_a", "0a", "a-b.c", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := containerName(s), containerNamePattern.MatchString(s); got != want {
			t.Errorf("containerName(%q) = %v, want %v", s, got, want)
		}
		if got, want := envName(s), envNamePattern.MatchString(s); got != want {
			t.Errorf("envName(%q) = %v, want %v", s, got, want)
		}
	})
}
