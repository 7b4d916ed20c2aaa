// Package bridge gives a project its container and works inside it.
//
// It composes dockercli and tmuxcli: lazy start without a pre-inspect (exec
// first; on "no such container" or "not running", ensure under a per-project
// lock and retry once), exec with an in-container kill on timeout or
// interrupt, file operations whose caller strings travel only as argv
// elements, activity kept in a state directory so that a reaper in another
// process sees it, and reaping by label in a fixed number of docker calls.
//
// It never sleeps a fixed time, never holds a whole file in memory, and never
// stops a container with an operation in flight.
//
// # Output
//
// A result has a JSON form (its struct tags) and a human form: WriteText on
// a result, a Write function (WriteJobs, WriteSnapshots, ...) for a list.
// Both are what the dockerbridge command prints, with and without --json.
package bridge
