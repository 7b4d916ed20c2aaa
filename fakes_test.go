package main

import (
	"fmt"
	"os"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeDocker is the fake docker CLI used by the hermetic scenarios.
func fakeDocker() int {
	fmt.Fprintln(os.Stderr, "fakedocker: not implemented yet")
	return 1
}

// fakeHost answers id and getent for the hermetic scenarios.
func fakeHost() int {
	fmt.Fprintln(os.Stderr, "fakehost: not implemented yet")
	return 1
}

var fakeCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}
