package tmuxcli

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Describe is whether the pane's program runs, for people: "alive",
// "dead (exit 2)", or "dead" when tmux kept no status.
func (p Pane) Describe() string {
	switch {
	case p.Dead && p.ExitStatus != nil:
		return fmt.Sprintf("dead (exit %d)", *p.ExitStatus)
	case p.Dead:
		return "dead"
	}
	return "alive"
}

// WritePanes writes ls's table: a row per pane, in aligned columns.
func WritePanes(w io.Writer, panes []Pane) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPANE\tPID\tSTATE\tCOMMAND")
	for _, p := range panes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Name, p.PaneID, p.PID, p.Describe(), p.Command)
	}
	return tw.Flush()
}

// WriteText writes the state, with an exited program's status, and why,
// on one line.
func (st PaneState) WriteText(w io.Writer) error {
	state := st.State
	if st.ExitStatus != nil {
		state = fmt.Sprintf("%s %d", st.State, *st.ExitStatus)
	}
	_, err := fmt.Fprintf(w, "%s\t%s\n", state, st.Reason)
	return err
}
