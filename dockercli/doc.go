// Package dockercli drives a Docker engine through the docker command line.
//
// Building a command is kept apart from running it: the *Args functions are
// pure and return the argv after the binary name, and a Client runs them
// through a Runner, the one seam between the tool and the outside world.
//
// Policy: every call carries a context deadline, so a hung client never hangs
// the caller. Stderr is kept in a bounded buffer and attached to the error,
// where Classify turns docker's own texts into ErrNoSuchContainer,
// ErrNotRunning, ErrNameConflict, ErrNoSuchImage and ErrDaemon. Caller
// strings only ever travel as whole argv elements; nothing here builds a
// shell string. It never talks to the API socket.
package dockercli
