package dockercli

import (
	"strconv"
	"time"
)

// RunSpec describes a detached container, flag by flag. Empty fields leave
// docker's default in place.
type RunSpec struct {
	Name    string
	User    string
	Env     []string // KEY=VALUE
	Mounts  []string // -v SRC:DST[:MODE], workspace first
	Workdir string
	Network string
	Restart string
	Memory  string
	CPUs    string
	Init    bool
	Labels  []string // KEY=VALUE, in order
	Extra   []string // further flags, already split
	Hardening
	Image   string
	Command []string
}

// Hardening narrows what a container's processes may do. The zero value
// narrows nothing.
type Hardening struct {
	CapDrop     []string // --cap-drop, each
	SecurityOpt []string // --security-opt, each
	PidsLimit   int      // --pids-limit, when positive
	ReadOnly    bool     // --read-only root filesystem
	Tmpfs       []string // --tmpfs, each
	Sysctls     []string // --sysctl KEY=VALUE, each
}

// Args are h's docker run flags.
func (h Hardening) Args() []string {
	var a []string
	for _, c := range h.CapDrop {
		a = append(a, "--cap-drop", c)
	}
	for _, o := range h.SecurityOpt {
		a = append(a, "--security-opt", o)
	}
	if h.PidsLimit > 0 {
		a = append(a, "--pids-limit", strconv.Itoa(h.PidsLimit))
	}
	if h.ReadOnly {
		a = append(a, "--read-only")
	}
	for _, t := range h.Tmpfs {
		a = append(a, "--tmpfs", t)
	}
	for _, k := range h.Sysctls {
		a = append(a, "--sysctl", k)
	}
	return a
}

// Args is the argv for "docker run -d" of s.
func (s RunSpec) Args() []string {
	a := []string{"run", "-d"}
	a = appendFlag(a, "--name", s.Name)
	a = appendFlag(a, "--user", s.User)
	for _, e := range s.Env {
		a = append(a, "-e", e)
	}
	if len(s.Mounts) > 0 {
		a = append(a, "-v", s.Mounts[0])
	}
	a = appendFlag(a, "-w", s.Workdir)
	a = appendFlag(a, "--network", s.Network)
	a = appendFlag(a, "--restart", s.Restart)
	a = appendFlag(a, "--memory", s.Memory)
	a = appendFlag(a, "--cpus", s.CPUs)
	for _, l := range s.Labels {
		a = append(a, "--label", l)
	}
	for _, m := range s.Mounts[min(1, len(s.Mounts)):] {
		a = append(a, "-v", m)
	}
	if s.Init {
		a = append(a, "--init")
	}
	a = append(a, s.Extra...)
	a = append(a, s.Hardening.Args()...)
	// "--" would end docker's flags, but docker treats the first non-flag as
	// the image anyway and podman rejects "--" here; the image is validated
	// by the caller instead.
	a = append(a, s.Image)
	return append(a, s.Command...)
}

func appendFlag(a []string, flag, v string) []string {
	if v == "" {
		return a
	}
	return append(a, flag, v)
}

// ExecSpec describes one "docker exec".
type ExecSpec struct {
	Container   string
	Interactive bool     // -i: attach stdin
	Env         []string // KEY=VALUE
	User        string
	Workdir     string
	Command     []string
}

// Args is the argv for "docker exec" of s.
func (s ExecSpec) Args() []string {
	a := []string{"exec"}
	if s.Interactive {
		a = append(a, "-i")
	}
	for _, e := range s.Env {
		a = append(a, "-e", e)
	}
	a = appendFlag(a, "--user", s.User)
	a = appendFlag(a, "-w", s.Workdir)
	a = append(a, s.Container)
	return append(a, s.Command...)
}

// InspectArgs is the argv for "docker container inspect" of names, with an
// optional Go template.
func InspectArgs(format string, names ...string) []string {
	a := []string{"container", "inspect"}
	a = appendFlag(a, "--format", format)
	return append(a, names...)
}

// PsArgs is the argv for "docker ps" with exact label filters.
func PsArgs(all bool, format string, labelFilters ...string) []string {
	a := []string{"ps"}
	if all {
		a = append(a, "-a")
	}
	for _, l := range labelFilters {
		a = append(a, "--filter", "label="+l)
	}
	a = append(a, "--no-trunc")
	return appendFlag(a, "--format", format)
}

// StartArgs is the argv for "docker start" of names.
func StartArgs(names ...string) []string { return append([]string{"start"}, names...) }

// StopArgs is the argv for "docker stop" of names. A negative grace keeps
// docker's own default.
func StopArgs(grace time.Duration, names ...string) []string {
	a := []string{"stop"}
	if grace >= 0 {
		a = append(a, "-t", strconv.Itoa(int(grace.Round(time.Second)/time.Second)))
	}
	return append(a, names...)
}

// RmArgs is the argv for "docker rm -f" of names.
func RmArgs(names ...string) []string { return append([]string{"rm", "-f"}, names...) }
