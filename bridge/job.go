package bridge

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// JobRoot is where jobs keep their files in the container: under the
// container's TMPDIR, which snapshots and commits leave out, and in the
// workspace, so that a job's log and exit status outlive a restart of the
// container and can be read from the host.
const JobRoot = "/workspace/.tmp/dockerbridge-jobs"

//go:embed scripts/job.bash
var jobScript string

// The job script's exit codes, beyond 1 (a step failed) and 2 (an unknown
// verb), which it explains on stderr. This is their one table. The script
// names ExecIDVar as a literal, for the job's processes to carry.
const (
	jobNoSuch  = 3
	jobRunning = 4
	jobTimeout = 124
)

// Job states.
const (
	JobRunning = "running"
	JobExited  = "exited"
	JobKilled  = "killed"
	// JobLost: no exit status and no process, as after a restart of the
	// container, which ends every process in it.
	JobLost = "lost"
)

// Errors a caller branches on.
var (
	ErrNoJob      = errors.New("no such job")
	ErrJobRunning = errors.New("still running: wait for it or kill it first")
)

// Job is a background job in the container.
type Job struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code"`
	PID      int    `json:"pid"`
	Started  string `json:"started"`
	Ended    string `json:"ended,omitempty"`
	Command  string `json:"command"`
	Log      string `json:"log"`
	id       string
}

// jobControlTimeout bounds the job calls that return at once.
const jobControlTimeout = 30 * time.Second

// jobControl is the deadline of a job call that returns at once: --timeout
// when it is shorter, as for docker's control calls.
func (b *Bridge) jobControl() time.Duration {
	if b.cfg.Timeout > 0 {
		return min(jobControlTimeout, b.cfg.Timeout)
	}
	return jobControlTimeout
}

// jobCall runs the job script with args in the container, as one docker
// exec under timeout, through the door. It returns the script's exit code
// and its stderr.
func (b *Bridge) jobCall(ctx context.Context, timeout time.Duration, stdout io.Writer, args ...string) (int, string, error) {
	return b.jobCallEnv(ctx, timeout, nil, stdout, args...)
}

// jobCallEnv is jobCall with env added to the script's environment, which
// a job it starts inherits.
func (b *Bridge) jobCallEnv(ctx context.Context, timeout time.Duration, env []string, stdout io.Writer, args ...string) (int, string, error) {
	errb := dockercli.NewCapBuffer(16 << 10)
	code, err := b.run(ctx, call{
		argv:    append([]string{"bash", "-c", jobScript, "dockerbridge-job"}, args...),
		env:     env,
		stdout:  stdout,
		stderr:  errb,
		timeout: timeout,
	})
	return code, errb.String(), err
}

// jobFail turns the script's exit code into an error.
func jobFail(verb, name string, code int, stderr string) error {
	switch code {
	case jobNoSuch:
		return fmt.Errorf("job %s: %w", name, ErrNoJob)
	case jobRunning:
		return fmt.Errorf("job %s: %w", name, ErrJobRunning)
	}
	if line := strings.TrimSpace(stderr); line != "" {
		line, _, _ = strings.Cut(line, "\n")
		return fmt.Errorf("job %s %s: %s", verb, name, line)
	}
	return fmt.Errorf("job %s %s: exit status %d", verb, name, code)
}

// parseJobs reads the script's job lines.
func parseJobs(out string) ([]Job, error) {
	jobs := []Job{}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "\t", 8)
		if len(f) != 8 {
			return nil, fmt.Errorf("job: unreadable line %q", l)
		}
		j := Job{Name: f[0], State: f[1], id: f[4], Command: f[7], Log: JobRoot + "/" + f[0] + "/log"}
		if n, err := strconv.Atoi(f[2]); err == nil {
			j.ExitCode = &n
		}
		j.PID, _ = strconv.Atoi(f[3])
		j.Started = epoch(f[5])
		j.Ended = epoch(f[6])
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func epoch(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return ""
	}
	return time.Unix(n, 0).UTC().Format(time.RFC3339)
}

func parseJob(name, out string) (Job, error) {
	jobs, err := parseJobs(out)
	if err != nil {
		return Job{}, err
	}
	if len(jobs) != 1 {
		return Job{}, fmt.Errorf("job %s: unreadable answer %q", name, out)
	}
	return jobs[0], nil
}

// StartJob starts command (bash -c) in the background in the container, as
// job name, and returns at once. Its output goes to its log, its exit status
// to its directory; it keeps running when dockerbridge exits. A job of the
// same name that has ended is replaced; one still running is
// ErrJobRunning.
func (b *Bridge) StartJob(ctx context.Context, name, command string) (Job, error) {
	var out bytes.Buffer
	// The job gets the container's --env, as an exec does, also in a
	// container made without it.
	code, stderr, err := b.jobCallEnv(ctx, b.jobControl(), b.cfg.Env, &out, "start", JobRoot, name, newID(), command)
	if err != nil {
		return Job{}, fmt.Errorf("job start %s: %w", name, err)
	}
	if code != 0 {
		return Job{}, jobFail("start", name, code, stderr)
	}
	return parseJob(name, out.String())
}

// Jobs lists the jobs in the container, by name.
func (b *Bridge) Jobs(ctx context.Context) ([]Job, error) {
	var out bytes.Buffer
	code, stderr, err := b.jobCall(ctx, b.jobControl(), &out, "ls", JobRoot)
	if err != nil {
		return nil, fmt.Errorf("job ls: %w", err)
	}
	if code != 0 {
		return nil, jobFail("ls", "", code, stderr)
	}
	return parseJobs(out.String())
}

// JobInfo is one job.
func (b *Bridge) JobInfo(ctx context.Context, name string) (Job, error) {
	var out bytes.Buffer
	code, stderr, err := b.jobCall(ctx, b.jobControl(), &out, "info", JobRoot, name)
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", name, err)
	}
	if code != 0 {
		return Job{}, jobFail("info", name, code, stderr)
	}
	return parseJob(name, out.String())
}

// JobLogs writes job name's log to w: what it has so far, or with follow
// everything until the job ends, within timeout.
func (b *Bridge) JobLogs(ctx context.Context, name string, follow bool, timeout time.Duration, w io.Writer) error {
	f := "0"
	if follow {
		f = "1"
	} else {
		timeout = b.jobControl()
	}
	code, stderr, err := b.jobCall(ctx, timeout, w, "logs", JobRoot, name, f)
	if err != nil {
		return fmt.Errorf("job logs %s: %w", name, err)
	}
	if code != 0 {
		return jobFail("logs", name, code, stderr)
	}
	return nil
}

// WaitJob waits until job name has ended, up to timeout. timedOut says the
// job was still running when it gave up.
func (b *Bridge) WaitJob(ctx context.Context, name string, timeout time.Duration) (j Job, timedOut bool, err error) {
	secs := max(int(math.Ceil(timeout.Seconds())), 1)
	var out bytes.Buffer
	// The script gives up first; the call's own deadline is the backstop.
	code, stderr, err := b.jobCall(ctx, timeout+jobControlTimeout, &out, "wait", JobRoot, name, strconv.Itoa(secs))
	if err != nil {
		return Job{}, false, fmt.Errorf("job wait %s: %w", name, err)
	}
	switch code {
	case 0:
	case jobTimeout:
		timedOut = true
	default:
		return Job{}, false, jobFail("wait", name, code, stderr)
	}
	j, err = parseJob(name, out.String())
	return j, timedOut, err
}

// KillJob kills every process job name started, as a timed-out exec is
// killed: by the exec id in their environment, and by descent from the
// job's first process. A job that had not ended is then recorded as
// killed, with status 137.
func (b *Bridge) KillJob(ctx context.Context, name string) (Job, error) {
	j, err := b.JobInfo(ctx, name)
	if err != nil {
		return Job{}, err
	}
	killed := "0"
	if j.State == JobRunning && (j.id != "" || j.PID > 0) {
		pid := ""
		if j.PID > 0 {
			pid = strconv.Itoa(j.PID)
		}
		b.kill(ctx, j.id, pid, killTimeout)
		killed = "1"
	}
	var out bytes.Buffer
	code, stderr, err := b.jobCall(ctx, b.jobControl(), &out, "killed", JobRoot, name, killed)
	if err != nil {
		return Job{}, fmt.Errorf("job kill %s: %w", name, err)
	}
	if code != 0 {
		return Job{}, jobFail("kill", name, code, stderr)
	}
	return parseJob(name, out.String())
}
