// Package tmuxcli builds tmux argv and runs it through a dockercli.Runner.
//
// Every call goes to a private server (-L dockerbridge unless told
// otherwise, -f /dev/null so no user configuration applies, -u for UTF-8)
// and carries its own deadline: a hung tmux client never hangs the caller.
// The same code drives a tmux on the host or one inside a container, because
// a Runner that prepends "docker exec -i <name>" is just another Runner.
// Caller text only ever travels as whole argv elements or on stdin, never
// through a shell or tmux's command parser; a trailing ';' is escaped so
// tmux keeps it.
//
// Argv is built by pure functions (args.go). A wait runs one watcher process
// that prints the pane state and its capture every interval (one docker exec
// for the whole wait); a run waits on a wait-for channel of its own, never by
// polling the screen.
package tmuxcli
