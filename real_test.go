package main

import (
	"github.com/rogpeppe/go-internal/testscript"
)

// setupReal prepares a real-engine scenario.
func setupReal(env *testscript.Env) error { return nil }

var realCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}
