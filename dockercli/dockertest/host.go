package dockertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HostMain is the fake id and getent, as a program for testscript's
// RunMain: it answers "id -u|-g NAME" and "getent passwd NAME" from the
// passwd-format file $FAKEHOST_USERS (default $WORK/passwd), in which
// "$WORK" stands for the script's work directory.
func HostMain() int {
	args := os.Args[1:]
	logPath := os.Getenv("FAKEHOST_LOG")
	if logPath == "" && os.Getenv("WORK") != "" {
		logPath = filepath.Join(os.Getenv("WORK"), "host.log")
	}
	if err := appendLog(logPath, args); err != nil {
		fmt.Fprintf(os.Stderr, "fakehost: %v\n", err)
		return 2
	}
	usersFile := os.Getenv("FAKEHOST_USERS")
	if usersFile == "" && os.Getenv("WORK") != "" {
		usersFile = filepath.Join(os.Getenv("WORK"), "passwd")
	}
	lookup := func(name string) ([]string, bool) {
		b, err := os.ReadFile(usersFile)
		if err != nil {
			return nil, false
		}
		// Homes may live in the script's $WORK.
		text := strings.ReplaceAll(string(b), "$WORK", os.Getenv("WORK"))
		for _, line := range strings.Split(text, "\n") {
			f := strings.Split(line, ":")
			if len(f) == 7 && f[0] == name {
				return f, true
			}
		}
		return nil, false
	}
	switch {
	case len(args) == 3 && args[0] == "id" && (args[1] == "-u" || args[1] == "-g"):
		f, ok := lookup(args[2])
		if !ok {
			fmt.Fprintf(os.Stderr, "id: '%s': no such user\n", args[2])
			return 1
		}
		if args[1] == "-u" {
			fmt.Println(f[2])
		} else {
			fmt.Println(f[3])
		}
		return 0
	case len(args) == 3 && args[0] == "getent" && args[1] == "passwd":
		f, ok := lookup(args[2])
		if !ok {
			return 2 // getent's "key not found", silently
		}
		fmt.Println(strings.Join(f, ":"))
		return 0
	}
	fmt.Fprintf(os.Stderr, "fakehost: only 'id -u|-g NAME' and 'getent passwd NAME' are emulated, got %q\n", args)
	return 2
}
