// Package dockertest is a fake docker engine for tests: one stateful model
// of containers, execs and labels, reached two ways, as net/http/httptest's
// servers are.
//
//   - In process, an *Engine is a dockercli.Runner: give it to
//     dockercli.Client and every "docker ..." argv is answered by the fake.
//   - As a program, Main is the docker CLI and HostMain is id and getent,
//     for testscript.RunMain; Setup and Cmds give a scenario its engine
//     and the commands that arrange and inspect it.
//
// Both keep the state in a directory under a lock, so the program's calls
// from many processes and a test's calls from many goroutines serialise as
// the daemon's do.
//
// # Fidelity
//
// Texts and exit codes are docker's own, recorded from docker CLI 28.2
// against engine 20.10. A call outside what is emulated fails loudly (exit
// 125, "not emulated") rather than passing by accident. No container
// exists: exec runs its command on the host, with each mount's destination
// standing for its source, in argv, scripts and output alike.
// testdata/script/README.md at the repository's root lists every call and
// where the emulation stops.
//
// # Canned answers
//
// A test may replace the engine's answer to a call (Answer, or fakeresp in
// a scenario). An answer that no call took, or took fewer times than it
// promised, fails the test when it ends: the test did not go the way it
// claims.
//
// # Who may import it
//
// Tests only. The binary never links it: no non-test file outside this
// package imports it.
package dockertest
