package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dockerbridge/dockercli"
)

// CheckEgress refuses a call that asks for an egress policy when the
// container exists without any: it has the network it was made with, and
// the call would run with the way out it asked not to have. A container
// with another policy is still confined, and is told apart as any other
// setting is.
func (b *Bridge) CheckEgress(ctx context.Context) error {
	if b.egress.Empty() {
		return nil
	}
	// What this state directory made with a policy needs no look: the one
	// docker call is for a container it knows without one, or not at all.
	if seen, ok := b.state.loadSeen(b.Name()); ok && seen.Settings != nil && seen.Settings.Egress != "" {
		return nil
	}
	out, err := b.docker.Inspect(ctx, `{{index .Config.Labels "`+EgressLabel+`"}}`, b.Name())
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return nil
	}
	if err != nil {
		return err
	}
	if have := strings.TrimSpace(out); have != "" && have != "<no value>" {
		return nil
	}
	return fmt.Errorf("%s was made without egress control, so --egress %s would not hold: add --recreate to make it anew with it", b.Name(), b.egress.String())
}
