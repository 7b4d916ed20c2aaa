package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"dockerbridge/bridge"
	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

// JobCmd runs commands in the background in the container.
type JobCmd struct {
	Start JobStartCmd `cmd:"" help:"Start a command in the background as job NAME; its output goes to its log."`
	Ls    JobLsCmd    `cmd:"" help:"List jobs: name, state, exit status, pid, start time, command."`
	Logs  JobLogsCmd  `cmd:"" help:"Print a job's output so far, or follow it until the job ends (-f)."`
	Wait  JobWaitCmd  `cmd:"" help:"Wait until a job ends (at most --timeout) and exit with its status."`
	Kill  JobKillCmd  `cmd:"" help:"Kill every process a job started."`
}

// jobName checks a job name before anything runs: the tmux session rule.
func jobName(name string) error {
	if err := tmuxcli.ValidateName(name); err != nil {
		return usageError{fmt.Errorf("job: invalid name %q: use letters, digits, '_' and '-'", name)}
	}
	return nil
}

// JobStartCmd starts a job.
type JobStartCmd struct {
	Name    string   `arg:"" help:"Job name: letters, digits, '_' and '-'."`
	Command []string `arg:"" optional:"" passthrough:"partial" help:"Command line, after --; several words are joined with spaces."`
}

func (c *JobStartCmd) Run(a *app) error {
	if err := jobName(c.Name); err != nil {
		return err
	}
	words := c.Command
	if len(words) > 0 && words[0] == "--" {
		words = words[1:]
	}
	if len(words) == 0 {
		return usageError{errors.New("job start: no command given")}
	}
	a.envPerCall = true // the job gets it
	b, err := a.bridge()
	if err != nil {
		return err
	}
	j, err := b.StartJob(a.ctx, c.Name, strings.Join(words, " "))
	if err != nil {
		return err
	}
	if a.asJSON(map[string]any{"success": true, "job": j}) {
		return nil
	}
	fmt.Fprintf(a.stdout, "job %s started: pid %d, log %s\n", j.Name, j.PID, j.Log)
	return nil
}

// JobLsCmd lists jobs.
type JobLsCmd struct{}

func (c *JobLsCmd) Run(a *app) error {
	b, err := a.bridge()
	if err != nil {
		return err
	}
	jobs, err := b.Jobs(a.ctx)
	if err != nil {
		return err
	}
	if a.asJSON(jobs) {
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tSTARTED\tCOMMAND")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", j.Name, jobState(j), j.PID, j.Started, j.Command)
	}
	return tw.Flush()
}

// jobState is a job's state for people: "exited 3", "killed", "running".
func jobState(j bridge.Job) string {
	if j.State == bridge.JobExited && j.ExitCode != nil {
		return fmt.Sprintf("exited %d", *j.ExitCode)
	}
	return j.State
}

// JobLogsCmd prints a job's log.
type JobLogsCmd struct {
	Name   string `arg:"" help:"Job name."`
	Follow bool   `short:"f" help:"Keep printing until the job ends (at most --timeout)."`
}

func (c *JobLogsCmd) Run(a *app) error {
	if err := jobName(c.Name); err != nil {
		return err
	}
	b, err := a.bridge()
	if err != nil {
		return err
	}
	if !a.g.JSON {
		return b.JobLogs(a.ctx, c.Name, c.Follow, a.g.Timeout, a.stdout)
	}
	buf := dockercli.NewCapBuffer(b.Config().OutputCap)
	if err := b.JobLogs(a.ctx, c.Name, c.Follow, a.g.Timeout, buf); err != nil {
		return err
	}
	a.printJSON(map[string]any{"success": true, "name": c.Name, "content": buf.String(), "truncated": buf.Truncated()})
	return nil
}

// JobWaitCmd waits for a job.
type JobWaitCmd struct {
	Name string `arg:"" help:"Job name."`
}

func (c *JobWaitCmd) Run(a *app) error {
	if err := jobName(c.Name); err != nil {
		return err
	}
	b, err := a.bridge()
	if err != nil {
		return err
	}
	j, timedOut, err := b.WaitJob(a.ctx, c.Name, a.g.Timeout)
	if err != nil {
		return err
	}
	a.asJSON(map[string]any{"success": !timedOut && j.State == bridge.JobExited && j.ExitCode != nil && *j.ExitCode == 0, "timed_out": timedOut, "job": j})
	switch {
	case timedOut:
		fmt.Fprintf(a.stderr, "dockerbridge: job wait: %s still running after %s\n", c.Name, a.g.Timeout)
		return exitCode(124)
	case j.State == bridge.JobLost:
		fmt.Fprintf(a.stderr, "dockerbridge: job wait: %s ended without an exit status (the container was restarted)\n", c.Name)
		return exitCode(1)
	case j.ExitCode != nil:
		return exitCode(*j.ExitCode)
	}
	return nil
}

// JobKillCmd kills a job.
type JobKillCmd struct {
	Name string `arg:"" help:"Job name."`
}

func (c *JobKillCmd) Run(a *app) error {
	if err := jobName(c.Name); err != nil {
		return err
	}
	b, err := a.bridge()
	if err != nil {
		return err
	}
	j, err := b.KillJob(a.ctx, c.Name)
	if err != nil {
		return err
	}
	if a.asJSON(map[string]any{"success": true, "job": j}) {
		return nil
	}
	if j.State == bridge.JobKilled {
		fmt.Fprintf(a.stdout, "job %s killed\n", j.Name)
	} else {
		fmt.Fprintf(a.stdout, "job %s had already ended: %s\n", j.Name, jobState(j))
	}
	return nil
}
