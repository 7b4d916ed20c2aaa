// Package tmuxtest is a fake tmux for tests, reached two ways, as
// net/http/httptest's servers are: in process, a Server is a
// dockercli.Runner for argv whose program is tmux; as a program, Main is
// tmux for testscript.RunMain (the hermetic scenarios register it as
// faketmux, and put a shim named tmux on PATH that runs it with
// FAKETMUX_DIR set to the scenario's $WORK). Both keep one state, in a
// directory under a lock, as the server serialises its clients.
//
// # Who may import it
//
// Tests only. The binary never links it: no non-test file outside this
// package imports it.
//
// # Fidelity
//
// It is stateful, after tailscale's fakeOS: it keeps sessions, options, buffers and wait-for
// channels in DIR/.tmuxfake/<socket>.json, splits its argv into commands by
// tmux 3.3's own rule (an argument ending in ';' ends a command, "\;" stands
// for ';'), and answers the commands dockerbridge uses with tmux's texts:
// "no server running on ...", "can't find session: NAME", "duplicate
// session: NAME". With no session left the server goes (exit-empty), but not
// at once, as tmux's does not: the first client to reach it after its last
// session went, unless it starts a session, gets "no current target"; only
// then is the server gone.
//
// What it writes, for scripts to check:
//
//	tmux.log     one line per call: the argv after "tmux", each element %q
//	typed.log    what reached a pane, one line per call: literal text as it
//	             is, keys as <Key>, pastes as <paste>TEXT</paste>
//	events.log   "new NAME history-limit=N remain-on-exit=V size=WxH env=[..]
//	             cmd=..." with the options in force when the pane was made,
//	             "kill NAME", "run CHANNEL"
//
// What a test can give it, in its directory:
//
//	screen        the screen of a new session (default "$ ")
//	screen-NAME   session NAME's screen from now on
//	cursor-NAME   "X Y": where its cursor is (default: after the last
//	              non-blank line)
//	command-NAME  its foreground command (default: the first word of its
//	              command, else bash); run's if-shell tests it
//	away-NAME     (exists) its shell is away from its prompt (in a read
//	              builtin, say): run's shell test finds it so
//	run.out       what a run command prints (default nothing)
//	run.rc        its exit code (default 0)
//	run.hang      (exists) the command never ends: no signal
//	slow          a duration: every call waits that long before it
//	              answers, as a server on a loaded machine does
//	run.exit      the command ends the shell with this status: the EXIT
//	              trap reports it, then the pane dies, but not at once:
//	              the next call still finds the shell there (and text
//	              typed into it is lost); the pane is dead from the end
//	              of that call
//
// A pasted run script starts when Enter follows it: the fake appends the
// markers, run.out and the exit code to the screen, as the shell would, and
// signals the channel named in the script (a late signal of an old channel is
// kept, as tmux keeps it, and ends only a wait on that same channel).

package tmuxtest
