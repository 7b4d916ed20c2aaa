package dockercli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pythonSpec is what the bridge asks for by default: the flags and values of
// docker_bridge.py, plus --init.
func pythonSpec() RunSpec {
	return RunSpec{
		Name: "luzia-x",
		User: "1000:1000",
		Env: []string{
			"HOME=/workspace",
			"npm_config_cache=/workspace/.npm",
			"TMPDIR=/workspace/.tmp",
			"TEMP=/workspace/.tmp",
			"TMP=/workspace/.tmp",
		},
		Mounts:  []string{"/home/x:/workspace"},
		Workdir: "/workspace",
		Network: "host",
		Restart: "unless-stopped",
		Memory:  "2g",
		CPUs:    "2",
		Init:    true,
		Labels:  []string{"luzia.project=x", "luzia.created=2024-05-01T10:00:00.000000"},
		Image:   "luzia-sandbox:latest",
		Command: []string{"tail", "-f", "/dev/null"},
	}
}

// pythonArgv is docker_bridge.py's argv, in its order, with --init before
// the image.
var pythonArgv = []string{
	"run", "-d",
	"--name", "luzia-x",
	"--user", "1000:1000",
	"-e", "HOME=/workspace",
	"-e", "npm_config_cache=/workspace/.npm",
	"-e", "TMPDIR=/workspace/.tmp",
	"-e", "TEMP=/workspace/.tmp",
	"-e", "TMP=/workspace/.tmp",
	"-v", "/home/x:/workspace",
	"-w", "/workspace",
	"--network", "host",
	"--restart", "unless-stopped",
	"--memory", "2g",
	"--cpus", "2",
	"--label", "luzia.project=x",
	"--label", "luzia.created=2024-05-01T10:00:00.000000",
	"--init",
	"luzia-sandbox:latest", "tail", "-f", "/dev/null",
}

func TestRunArgs(t *testing.T) {
	tests := []struct {
		name string
		spec func() RunSpec
		want []string
	}{
		{
			name: "python defaults plus init",
			spec: pythonSpec,
			want: pythonArgv,
		},
		{
			name: "no init",
			spec: func() RunSpec { s := pythonSpec(); s.Init = false; return s },
			want: without(pythonArgv, "--init"),
		},
		{
			name: "overrides keep their place",
			spec: func() RunSpec {
				s := pythonSpec()
				s.User, s.Network, s.Restart, s.Memory, s.CPUs = "1001:1002", "bridge", "no", "512m", "0.5"
				s.Image = "other:1"
				return s
			},
			want: replaced(pythonArgv, map[string]string{
				"1000:1000": "1001:1002", "host": "bridge", "unless-stopped": "no",
				"2g": "512m", "2": "0.5", "luzia-sandbox:latest": "other:1",
			}),
		},
		{
			name: "extra env after the defaults, extra mounts after the labels, extra flags last",
			spec: func() RunSpec {
				s := pythonSpec()
				s.Env = append(s.Env, "A=1", "B=two words")
				s.Mounts = append(s.Mounts, "/opt/dss:/opt/dss", "/data:/data:ro")
				s.Extra = []string{"--cap-drop", "ALL", "--read-only"}
				return s
			},
			want: []string{
				"run", "-d",
				"--name", "luzia-x",
				"--user", "1000:1000",
				"-e", "HOME=/workspace",
				"-e", "npm_config_cache=/workspace/.npm",
				"-e", "TMPDIR=/workspace/.tmp",
				"-e", "TEMP=/workspace/.tmp",
				"-e", "TMP=/workspace/.tmp",
				"-e", "A=1",
				"-e", "B=two words",
				"-v", "/home/x:/workspace",
				"-w", "/workspace",
				"--network", "host",
				"--restart", "unless-stopped",
				"--memory", "2g",
				"--cpus", "2",
				"--label", "luzia.project=x",
				"--label", "luzia.created=2024-05-01T10:00:00.000000",
				"-v", "/opt/dss:/opt/dss",
				"-v", "/data:/data:ro",
				"--init",
				"--cap-drop", "ALL", "--read-only",
				"luzia-sandbox:latest", "tail", "-f", "/dev/null",
			},
		},
		{
			name: "the hardening fields after the extra flags, each flag with its value",
			spec: func() RunSpec {
				return RunSpec{Extra: []string{"--shm-size=1g"}, Hardening: Hardening{
					CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges", "label=disable"},
					PidsLimit: 512, ReadOnly: true, Tmpfs: []string{"/tmp", "/run:size=1m"},
				}, Image: "img"}
			},
			want: []string{"run", "-d", "--shm-size=1g",
				"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", "label=disable",
				"--pids-limit", "512", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/run:size=1m", "img"},
		},
		{
			name: "empty fields leave docker's defaults",
			spec: func() RunSpec { return RunSpec{Image: "img"} },
			want: []string{"run", "-d", "img"},
		},
		{
			name: "a name with spaces stays one element",
			spec: func() RunSpec {
				return RunSpec{Name: "a b", Labels: []string{"k=v w"}, Image: "img", Command: []string{"sh", "-c", "echo 'x'; true"}}
			},
			want: []string{"run", "-d", "--name", "a b", "--label", "k=v w", "img", "sh", "-c", "echo 'x'; true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.spec().Args()); diff != "" {
				t.Errorf("RunSpec.Args (-want +got):\n%s", diff)
			}
		})
	}
}

func without(a []string, drop string) []string {
	var out []string
	for _, s := range a {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// replaced swaps the values that follow the flags they belong to; "2" only
// stands after --cpus.
func replaced(a []string, m map[string]string) []string {
	out := append([]string(nil), a...)
	for i, s := range out {
		if i == 0 {
			continue
		}
		v, ok := m[s]
		if !ok {
			continue
		}
		if s == "2" && out[i-1] != "--cpus" {
			continue
		}
		out[i] = v
	}
	return out
}

func TestExecArgs(t *testing.T) {
	tests := []struct {
		name string
		spec ExecSpec
		want []string
	}{
		{
			name: "plain",
			spec: ExecSpec{Container: "luzia-x", Command: []string{"bash", "-c", "echo hi"}},
			want: []string{"exec", "luzia-x", "bash", "-c", "echo hi"},
		},
		{
			name: "every option in order",
			spec: ExecSpec{
				Container:   "luzia-x",
				Interactive: true,
				Env:         []string{"DOCKERBRIDGE_EXEC_ID=abc", "B=2"},
				User:        "1000:1000",
				Workdir:     "/workspace/sub",
				Command:     []string{"bash", "-c", "cat > f"},
			},
			want: []string{
				"exec", "-i",
				"-e", "DOCKERBRIDGE_EXEC_ID=abc", "-e", "B=2",
				"--user", "1000:1000", "-w", "/workspace/sub",
				"luzia-x", "bash", "-c", "cat > f",
			},
		},
		{
			name: "command words that look like flags stay after the container",
			spec: ExecSpec{Container: "luzia-x", Command: []string{"ls", "-la", "--", "-rf"}},
			want: []string{"exec", "luzia-x", "ls", "-la", "--", "-rf"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.spec.Args()); diff != "" {
				t.Errorf("ExecSpec.Args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestControlArgs(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"inspect without format", InspectArgs("", "luzia-x"), []string{"container", "inspect", "luzia-x"}},
		{"inspect with format", InspectArgs("{{.State.Running}}", "luzia-x"), []string{"container", "inspect", "--format", "{{.State.Running}}", "luzia-x"}},
		{"inspect many", InspectArgs("{{.Name}}", "a", "b", "c"), []string{"container", "inspect", "--format", "{{.Name}}", "a", "b", "c"}},
		{"ps running", PsArgs(false, "{{.Names}}", "luzia.project"), []string{"ps", "--filter", "label=luzia.project", "--no-trunc", "--format", "{{.Names}}"}},
		{"ps all, two labels", PsArgs(true, "{{.Names}}", "luzia.project", "luzia.project=x"), []string{"ps", "-a", "--filter", "label=luzia.project", "--filter", "label=luzia.project=x", "--no-trunc", "--format", "{{.Names}}"}},
		{"ps without format", PsArgs(false, ""), []string{"ps", "--no-trunc"}},
		{"start", StartArgs("a", "b"), []string{"start", "a", "b"}},
		{"stop with docker's default grace", StopArgs(-1, "a", "b"), []string{"stop", "a", "b"}},
		{"stop -t", StopArgs(3*time.Second, "a"), []string{"stop", "-t", "3", "a"}},
		{"stop -t 0", StopArgs(0, "a"), []string{"stop", "-t", "0", "a"}},
		{"stop rounds to seconds", StopArgs(2500*time.Millisecond, "a"), []string{"stop", "-t", "3", "a"}},
		{"rm", RmArgs("a", "b"), []string{"rm", "-f", "a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientArgv(t *testing.T) {
	tests := []struct {
		name   string
		client Client
		want   []string
	}{
		{"default binary", Client{}, []string{"docker", "ps"}},
		{"podman", Client{Bin: "podman"}, []string{"podman", "ps"}},
		{"a path", Client{Bin: "/opt/bin/docker"}, []string{"/opt/bin/docker", "ps"}},
		{"context goes before the verb", Client{Context: "fleet-1"}, []string{"docker", "--context", "fleet-1", "ps"}},
		{"both", Client{Bin: "podman", Context: "remote"}, []string{"podman", "--context", "remote", "ps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.client.Argv([]string{"ps"})); diff != "" {
				t.Errorf("Argv (-want +got):\n%s", diff)
			}
		})
	}
}

// The argv of a call is built once and reaches the Runner whole.
func TestClientOutputArgv(t *testing.T) {
	var got []string
	c := Client{Bin: "podman", Context: "ctx", Runner: runnerFunc(func(cmd Cmd) int {
		got = cmd.Args
		return 0
	})}
	if err := c.Stop(t.Context(), 5*time.Second, "a", "b"); err != nil {
		t.Fatal(err)
	}
	want := []string{"podman", "--context", "ctx", "stop", "-t", "5", "a", "b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
}
