package bridge

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// The human forms of the results: what the CLI prints without --json, kept
// beside the types so that a library caller prints them the same way.

// table writes a header and the rows it is given, in aligned columns.
func table(w io.Writer, header string, rows func(w io.Writer)) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}

// shortSHA is a commit id as git abbreviates it for people.
func shortSHA(s string) string { return s[:min(len(s), 12)] }

// plural says "1 file", "2 files", as git does.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// idleFor says how long, to the minute once it is a minute or more.
func idleFor(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	if d < time.Minute {
		return d.String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}

// WriteText writes the container's state, one fact a line.
func (st Status) WriteText(w io.Writer) error {
	if st.Engine != "" {
		fmt.Fprintf(w, "engine:        %s\n", st.Engine)
	}
	switch {
	case st.Running:
		fmt.Fprintf(w, "%s running (id %s, image %s, user %s)\nworkspace:     %s\nstarted:       %s\nlast activity: %s\n",
			st.Name, st.ContainerID, st.Image, st.User, st.Workspace, st.StartedAt, st.LastActivity)
	case st.State == "restarting":
		fmt.Fprintf(w, "%s restarting: its main process keeps exiting (see `docker logs %s`)\n", st.Name, st.Name)
	case st.State == "paused":
		fmt.Fprintf(w, "%s paused\n", st.Name)
	case st.Exists:
		fmt.Fprintf(w, "%s stopped (image %s, workspace %s)\n", st.Name, st.Image, st.Workspace)
	default:
		fmt.Fprintf(w, "%s does not exist\n", st.Name)
	}
	if st.Egress == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "egress:        %s\n", st.egressLine())
	return err
}

// egressLine says what an egress-controlled container can reach.
func (st Status) egressLine() string {
	if st.EgressProxy == "running" {
		return st.Egress + " (proxy running)"
	}
	return fmt.Sprintf("%s, but its proxy is %s: no connection out (start it with `docker start %s%s`, or stop and start the container)",
		st.Egress, st.EgressProxy, st.Name, ProxySuffix)
}

// engineColumn is s on a fleet, whose rows name their engine, and nothing
// on one engine.
func engineColumn(fleet bool, s string) string {
	if fleet {
		return s
	}
	return ""
}

// WriteStatusRows writes status --all's table. fleet adds the ENGINE
// column.
func WriteStatusRows(w io.Writer, rows []StatusRow, fleet bool) error {
	return table(w, "NAME\tPROJECT\t"+engineColumn(fleet, "ENGINE\t")+"STATE\tSTATUS\tLAST ACTIVITY", func(w io.Writer) {
		for _, r := range rows {
			last := r.LastActivity
			if last == "" {
				last = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s%s\t%s\t%s\n", r.Name, r.Project, engineColumn(fleet, r.Engine+"\t"), r.State, r.Status, last)
		}
	})
}

// WriteContainers writes ps's table. fleet adds the ENGINE column.
func WriteContainers(w io.Writer, list []Container, fleet bool) error {
	return table(w, "NAME\tPROJECT\t"+engineColumn(fleet, "ENGINE\t")+"STATUS\tCREATED", func(w io.Writer) {
		for _, c := range list {
			fmt.Fprintf(w, "%s\t%s\t%s%s\t%s\n", c.Name, c.Project, engineColumn(fleet, c.Engine+"\t"), c.Status, c.Created)
		}
	})
}

// Summary counts what the reap saw: "3 checked, 1 stopped, 1 active, 1 busy".
func (r ReapResult) Summary() string {
	stopped := fmt.Sprintf("%d stopped", len(r.Stopped))
	if r.DryRun {
		stopped = fmt.Sprintf("%d would stop", len(r.WouldStop))
	}
	return fmt.Sprintf("%d checked, %s, %d active, %d busy", r.Checked, stopped, len(r.Active), len(r.Busy))
}

// WriteText writes a line per container stopped, or that a dry run would
// stop, then the summary.
func (r ReapResult) WriteText(w io.Writer) error { return r.writeText(w, nil) }

// WriteText is ReapResult's, each container named with its engine.
func (f FleetReap) WriteText(w io.Writer) error { return f.ReapResult.writeText(w, f.where()) }

func (r ReapResult) writeText(w io.Writer, on map[string]string) error {
	for _, name := range r.Stopped {
		fmt.Fprintf(w, "stopped %s%s\n", name, on[name])
	}
	for _, s := range r.WouldStop {
		fmt.Fprintf(w, "would stop %s%s (idle %s)\n", s.Name, on[s.Name], idleFor(s.IdleSeconds))
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteRound writes one round of a reap that repeats: a line per container,
// stamped with the time at, and the summary too when summary is set. idle
// is the reaper's threshold, which a stopped container was idle over.
func (f FleetReap) WriteRound(w io.Writer, at time.Time, idle time.Duration, summary bool) error {
	now := at.Format(time.RFC3339)
	on := f.where()
	for _, name := range f.Stopped {
		fmt.Fprintf(w, "%s stopped %s%s (idle over %s)\n", now, name, on[name], idle)
	}
	for _, s := range f.WouldStop {
		fmt.Fprintf(w, "%s would stop %s%s (idle %s)\n", now, s.Name, on[s.Name], idleFor(s.IdleSeconds))
	}
	if !summary {
		return nil
	}
	_, err := fmt.Fprintf(w, "%s reap: %s\n", now, f.Summary())
	return err
}

// where is " on ENGINE" for each container an engine's part names; empty
// when the result is one engine's.
func (f FleetReap) where() map[string]string {
	on := map[string]string{}
	for _, e := range f.Engines {
		if e.ReapResult == nil {
			continue
		}
		for _, names := range [][]string{e.Stopped, e.Active, e.Busy} {
			for _, name := range names {
				on[name] = " on " + e.Engine
			}
		}
		for _, s := range e.WouldStop {
			on[s.Name] = " on " + e.Engine
		}
	}
	return on
}

// WriteText writes the snapshot's number, commit and size.
func (r SnapshotResult) WriteText(w io.Writer) error {
	if r.Initialized {
		fmt.Fprintf(w, "initialized a git repository in %s (it was not one)\n", Workspace)
	}
	_, err := fmt.Fprintf(w, "snapshot %d %s (%s)\n", r.ID, shortSHA(r.SHA), plural(r.Files, "file"))
	return err
}

// WriteSnapshots writes snapshot ls's table.
func WriteSnapshots(w io.Writer, list []SnapshotInfo) error {
	return table(w, "ID\tSHA\tTIME\tMESSAGE", func(w io.Writer) {
		for _, s := range list {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", s.ID, shortSHA(s.SHA), s.Time, s.Message)
		}
	})
}

// WriteText writes what the restore changed and how to undo it.
func (r RestoreResult) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "restored snapshot %s: %s written, %d removed\n", r.asked, plural(r.Written, "file"), r.Removed)
	_, err := fmt.Fprintf(w, "the state before is snapshot %d (undo with: dockerbridge snapshot restore %d)\n", r.Undo.ID, r.Undo.ID)
	return err
}

// changes is a commit's counts as git's --shortstat says them.
func changes(files, insertions, deletions int) string {
	return fmt.Sprintf("%s changed, %s(+), %s(-)", plural(files, "file"), plural(insertions, "insertion"), plural(deletions, "deletion"))
}

// WriteText writes the commit made, or that there was nothing to commit.
func (r CommitResult) WriteText(w io.Writer) error {
	if r.Initialized {
		fmt.Fprintf(w, "initialized a git repository in %s (it was not one)\n", Workspace)
	}
	if !r.Committed {
		_, err := fmt.Fprintln(w, "nothing to commit")
		return err
	}
	_, err := fmt.Fprintf(w, "committed %s: %s\n", shortSHA(r.SHA), changes(r.FilesChanged, r.Insertions, r.Deletions))
	return err
}

// WriteText writes the report a line per step, then the agent's last
// screen.
func (r TaskReport) WriteText(w io.Writer) error {
	how := "not started"
	switch {
	case r.Reused:
		how = "reused"
	case r.Started:
		how = "started"
	}
	fmt.Fprintf(w, "agent:    %s (tmux session %s, %s)\n", r.Agent, r.Session, how)
	note := ""
	if r.Initialized {
		note = " (initialized a git repository in " + Workspace + ")"
	}
	fmt.Fprintf(w, "snapshot: %d %s%s\n", r.SnapshotID, shortSHA(r.SnapshotSHA), note)
	ended := r.Ended
	if r.ExitStatus != nil {
		ended += fmt.Sprintf(" with status %d", *r.ExitStatus)
	}
	if r.Match != "" {
		ended += fmt.Sprintf(" %q", r.Match)
	}
	fmt.Fprintf(w, "wait:     %s: %s after %s\n", r.Wait, ended, time.Duration(r.WaitMS)*time.Millisecond)
	switch {
	case r.Committed:
		fmt.Fprintf(w, "commit:   %s: %s\n", shortSHA(r.CommitSHA), changes(r.FilesChanged, r.Insertions, r.Deletions))
	case r.Success && r.CommitSHA == "" && r.Error == "":
		fmt.Fprintln(w, "commit:   none (nothing to commit, or --no-commit)")
	default:
		fmt.Fprintf(w, "commit:   none: %s\n", r.Error)
	}
	switch r.Stopped {
	case "":
	case StoppedKept:
		fmt.Fprintln(w, "stopped:  no, kept running (--keep-running)")
	default:
		fmt.Fprintf(w, "stopped:  %s\n", r.Stopped)
	}
	fmt.Fprintf(w, "duration: %s\n", time.Duration(r.DurationMS)*time.Millisecond)
	if r.Transcript != "" {
		fmt.Fprintf(w, "log:      %s (tmux log %s)\n", r.Transcript, r.Session)
	}
	fmt.Fprintf(w, "undo:     %s\n", r.Restore)
	fmt.Fprintln(w, "--- last screen ---")
	_, err := fmt.Fprint(w, r.Screen)
	return err
}

// Describe is the job's state for people: "exited 3", "killed", "running".
func (j Job) Describe() string {
	if j.State == JobExited && j.ExitCode != nil {
		return fmt.Sprintf("exited %d", *j.ExitCode)
	}
	return j.State
}

// WriteJobs writes job ls's table.
func WriteJobs(w io.Writer, jobs []Job) error {
	return table(w, "NAME\tSTATE\tPID\tSTARTED\tCOMMAND", func(w io.Writer) {
		for _, j := range jobs {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", j.Name, j.Describe(), j.PID, j.Started, j.Command)
		}
	})
}

// WriteText says what was copied where, and how much.
func (r CopyResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "copied %s to %s (%d entries, %d bytes)\n", r.Source, r.Dest, r.Entries, r.Bytes)
	return err
}
