package dockercli

import (
	"context"
	"io"
)

// NetworkCreateArgs is the argv for "docker network create" of a bridge
// network; an internal one has no route out of the host, and no address of
// the host on its bridge either: a member could otherwise reach every
// service the host serves on all its addresses through that one, since
// docker's isolation rules only filter what is forwarded.
func NetworkCreateArgs(name string, internal bool, labels ...string) []string {
	a := []string{"network", "create"}
	if internal {
		a = append(a, "--internal", "-o", "com.docker.network.bridge.inhibit_ipv4=true")
	}
	for _, l := range labels {
		a = append(a, "--label", l)
	}
	return append(a, name)
}

// NetworkConnectArgs is the argv that attaches a container to a network.
func NetworkConnectArgs(network, container string) []string {
	return []string{"network", "connect", network, container}
}

// NetworkRmArgs is the argv for "docker network rm" of names.
func NetworkRmArgs(names ...string) []string { return append([]string{"network", "rm"}, names...) }

// ImageInspectArgs is the argv for "docker image inspect" of one image.
func ImageInspectArgs(format, image string) []string {
	return append(appendFlag([]string{"image", "inspect"}, "--format", format), image)
}

// ImportArgs is the argv for "docker import" of a tarball read from stdin,
// with Dockerfile-like changes, tagged tag.
func ImportArgs(tag string, changes ...string) []string {
	a := []string{"import"}
	for _, c := range changes {
		a = append(a, "--change", c)
	}
	return append(a, "-", tag)
}

// LogsArgs is the argv for "docker logs" of a container.
func LogsArgs(name string) []string { return []string{"logs", name} }

// ServerPlatformArgs is the argv that prints the engine's os/arch.
func ServerPlatformArgs() []string {
	return []string{"version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"}
}

// Input runs a control call like Output, with stdin read from r.
func (c *Client) Input(ctx context.Context, r io.Reader, args ...string) (string, error) {
	return c.output(ctx, r, args)
}
