// Package tmuxcli builds tmux argv and runs it through a dockercli.Runner.
//
// Every call goes to a private server (-L dockerbridge unless told
// otherwise) and carries its own deadline: a hung tmux client never hangs
// the caller. The same code drives a tmux on the host or one inside a
// container, because a Runner that prepends "docker exec -i <name>" is just
// another Runner. Caller text only ever travels as whole argv elements.
package tmuxcli
