package tmuxcli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzz targets read each builder's argv back the way tmux does, and the
// shell line of a run the way a POSIX shell does, and require the caller's
// text to come back whole, in its own place, changing no command around it.

// tmuxCommands splits argv into commands as tmux's cmd_parse_from_arguments
// does: an element ending in ';' ends a command and loses that ';', unless
// the ';' follows a backslash, in which case the pair stands for a ';'.
func tmuxCommands(argv []string) [][]string {
	var cmds [][]string
	var cur []string
	for _, a := range argv {
		end := false
		if strings.HasSuffix(a, ";") {
			a = a[:len(a)-1]
			if strings.HasSuffix(a, `\`) {
				a = a[:len(a)-1] + ";"
			} else {
				end = true
			}
		}
		if !end || a != "" {
			cur = append(cur, a)
		}
		if end {
			cmds = append(cmds, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds
}

// tmuxOptions reads one command's flags as tmux's args_parse does: a flag
// with a value takes the rest of its element or else the next element,
// whatever it holds; "--" or the first element not starting with '-' ends
// the flags.
func tmuxOptions(args []string, valued, boolean string) (flags [][2]string, rest []string, err error) {
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		i++
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch {
			case strings.IndexByte(boolean, c) >= 0:
				flags = append(flags, [2]string{string(c), ""})
			case strings.IndexByte(valued, c) >= 0:
				v := a[j+1:]
				if v == "" {
					if i == len(args) {
						return nil, nil, fmt.Errorf("-%c has no value", c)
					}
					v = args[i]
					i++
				}
				flags = append(flags, [2]string{string(c), v})
				j = len(a)
			default:
				return nil, nil, fmt.Errorf("unknown flag -%c in %q", c, a)
			}
		}
	}
	return flags, args[i:], nil
}

func FuzzNewArgs(f *testing.F) {
	f.Add("work", "claude --resume; rm -rf /", "A=1;", 80, 24)
	f.Add("x", "", "", 0, 0)
	f.Add("a-b_c", ";", `B=\;`, 1, 1)
	f.Add("n", "-l", "-e", 200, 50)
	f.Fuzz(func(t *testing.T, name, command, env string, w, h int) {
		if ValidateName(name) != nil {
			return // the CLI refuses it before anything runs
		}
		argv := NewArgs(NewOptions{Name: name, Command: command, Width: w, Height: h, Env: []string{env, "K=" + env}})
		cmds := tmuxCommands(argv)
		if len(cmds) != 4 || cmds[3][0] != "new-session" {
			t.Fatalf("NewArgs(%q, %q) reads as %d commands: %q", name, command, len(cmds), cmds)
		}
		for _, c := range cmds[:3] {
			if c[0] != "set-option" {
				t.Errorf("NewArgs: %q is not a set-option", c)
			}
		}
		flags, rest, err := tmuxOptions(cmds[3][1:], "ceFfnstxy", "AdDEPX")
		if err != nil {
			t.Fatalf("new-session %q: %v", cmds[3], err)
		}
		var gotEnv []string
		var gotName string
		for _, fl := range flags {
			switch fl[0] {
			case "e":
				gotEnv = append(gotEnv, fl[1])
			case "s":
				gotName = fl[1]
			}
		}
		if diff := cmp.Diff([]string{"PROMPT_COMMAND=" + hookScript(), env, "K=" + env}, gotEnv); diff != "" {
			t.Errorf("new-session -e values (-want +got):\n%s", diff)
		}
		if gotName != name {
			t.Errorf("new-session -s %q, want %q", gotName, name)
		}
		want := []string{command}
		if command == "" {
			want = nil
		}
		if diff := cmp.Diff(want, rest, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("new-session command (-want +got):\n%s", diff)
		}
	})
}

func FuzzSendArgs(f *testing.F) {
	f.Add("work", "echo hi;", "C-c", 1)
	f.Add("%12", "-l", "--", 3)
	f.Add("x", `\;`, ";", 0)
	f.Add("x", "", "", 2)
	f.Fuzz(func(t *testing.T, name, text, key string, repeat int) {
		if ValidateTarget(name) != nil {
			return // the CLI refuses it before anything runs
		}
		target := Target(name)
		for _, tc := range []struct {
			argv []string
			want []string
		}{
			{LiteralArgs(target, text), []string{text}},
			{KeysArgs(target, repeat, text, key), []string{text, key}},
		} {
			cmds := tmuxCommands(tc.argv)
			if len(cmds) != 1 || cmds[0][0] != "send-keys" {
				t.Fatalf("%q reads as %q, want one send-keys", tc.argv, cmds)
			}
			flags, rest, err := tmuxOptions(cmds[0][1:], "cNt", "FHKlMRX")
			if err != nil {
				t.Fatalf("send-keys %q: %v", cmds[0], err)
			}
			for _, fl := range flags {
				if fl[0] == "t" && fl[1] != target {
					t.Errorf("send-keys -t %q, want %q", fl[1], target)
				}
			}
			if diff := cmp.Diff(tc.want, rest); diff != "" {
				t.Errorf("send-keys %q: the text (-want +got):\n%s", tc.argv, diff)
			}
		}
	})
}

// shellWord reads one POSIX shell word made of unquoted characters that are
// not special, single-quoted runs and backslash escapes, as ShellQuote makes
// them. It returns the word's value and what follows it.
func shellWord(s string) (word, rest string, err error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", "", fmt.Errorf("unclosed quote in %q", s)
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '\\':
			if i+1 == len(s) {
				return "", "", fmt.Errorf("trailing backslash in %q", s)
			}
			b.WriteByte(s[i+1])
			i += 2
		case strings.IndexByte(" \t\n;&|<>()$`\"*?[#~", c) >= 0:
			return b.String(), s[i:], nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), "", nil
}

func FuzzShellQuote(f *testing.F) {
	f.Add("echo hi")
	f.Add("it's")
	f.Add("'")
	f.Add("")
	f.Add("$(touch /tmp/pwned) `id`; exit")
	f.Add("cat <<EOF\nx\nEOF")
	f.Add("# comment")
	f.Fuzz(func(t *testing.T, s string) {
		q := ShellQuote(s)
		word, rest, err := shellWord(q)
		if err != nil || rest != "" || word != s {
			t.Fatalf("ShellQuote(%q) = %q reads as word %q then %q (%v)", s, q, word, rest, err)
		}
		line := markerScript(s, "db-0123456789abcdef", "tmux -L x wait-for -S db-0123456789abcdef")
		const lead = "; command eval "
		i := strings.Index(line, lead)
		if i < 0 {
			t.Fatalf("markerScript: no eval in %q", line)
		}
		word, rest, err = shellWord(line[i+len(lead):])
		if err != nil || word != s || !strings.HasPrefix(rest, "; __db_rc=$?;") {
			t.Errorf("markerScript(%q): the command reads as %q, then %q (%v)", s, word, rest, err)
		}
	})
}

// The readers above catch what the fuzz targets look for: an unescaped
// trailing ';' ends a command early and loses the ';', and an unquoted shell
// metacharacter ends a word.
func TestReadersCatchBreakouts(t *testing.T) {
	raw := []string{"send-keys", "-t", "=x:", "-l", "--", "echo hi;", "kill-server"}
	if got := tmuxCommands(raw); len(got) != 2 || got[0][len(got[0])-1] != "echo hi" {
		t.Errorf("tmuxCommands(%q) = %q, want the text cut at its ';' and a second command", raw, got)
	}
	if got := tmuxCommands(LiteralArgs("=x:", "echo hi;")); len(got) != 1 || got[0][len(got[0])-1] != "echo hi;" {
		t.Errorf("tmuxCommands(LiteralArgs) = %q, want one command ending in the whole text", got)
	}
	if w, rest, _ := shellWord("a;b"); w != "a" || rest != ";b" {
		t.Errorf("shellWord(%q) = %q, %q; want the word to end at ';'", "a;b", w, rest)
	}
}
