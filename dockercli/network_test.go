package dockercli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEgressArgs(t *testing.T) {
	for _, tc := range []struct {
		got, want []string
	}{
		{NetworkCreateArgs("n", true, "a=1", "b=2"), []string{"network", "create", "--internal", "-o", "com.docker.network.bridge.inhibit_ipv4=true", "--label", "a=1", "--label", "b=2", "n"}},
		{NetworkCreateArgs("n", false), []string{"network", "create", "n"}},
		{NetworkConnectArgs("n", "c"), []string{"network", "connect", "n", "c"}},
		{NetworkRmArgs("n"), []string{"network", "rm", "n"}},
		{ImageInspectArgs("{{.Id}}", "i:1"), []string{"image", "inspect", "--format", "{{.Id}}", "i:1"}},
		{ImportArgs("i:1", `ENTRYPOINT ["/x"]`, "USER 1"), []string{"import", "--change", `ENTRYPOINT ["/x"]`, "--change", "USER 1", "-", "i:1"}},
		{LogsArgs("c"), []string{"logs", "c"}},
		{ServerPlatformArgs(), []string{"version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

type stdinRunner struct{ got []byte }

func (s *stdinRunner) Run(_ context.Context, c Cmd) (int, error) {
	if c.Stdin != nil {
		s.got, _ = io.ReadAll(c.Stdin)
	}
	_, _ = io.WriteString(c.Stdout, "sha256:1\n")
	return 0, nil
}

func TestInputPassesStdin(t *testing.T) {
	r := &stdinRunner{}
	c := &Client{Runner: r}
	out, err := c.Input(t.Context(), bytes.NewReader([]byte("tar")), ImportArgs("i:1")...)
	if err != nil || strings.TrimSpace(out) != "sha256:1" || string(r.got) != "tar" {
		t.Fatalf("%q %v, stdin %q", out, err, r.got)
	}
}
