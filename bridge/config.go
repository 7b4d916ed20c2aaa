package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"dockerbridge/dockercli"
)

// Labels that record how a container was made, so that a later call can
// tell whether it asks for the same.
const (
	FingerprintLabel = "dockerbridge.fingerprint"
	SettingsLabel    = "dockerbridge.settings"
)

// Settings are the run settings that shape a container, as recorded in its
// labels. The user is not among them: it follows from the project and the
// workspace.
type Settings struct {
	Image   string   `json:"image"`
	Path    string   `json:"path"`
	Mounts  []string `json:"mounts,omitempty"`
	Env     []string `json:"env,omitempty"`
	Memory  string   `json:"memory"`
	CPUs    string   `json:"cpus"`
	Network string   `json:"network"`
	Restart string   `json:"restart"`
	Init    bool     `json:"init"`
	Extra   []string `json:"extra,omitempty"`
	// Egress is the egress policy; empty (and absent from the label, so
	// that older fingerprints hold) without one.
	Egress string `json:"egress,omitempty"`
}

func (b *Bridge) settings(path string) Settings {
	return Settings{
		Image: b.cfg.Image, Path: path, Mounts: b.cfg.Mounts, Env: b.cfg.Env,
		Memory: b.cfg.Memory, CPUs: b.cfg.CPUs, Network: b.cfg.Network, Restart: b.cfg.Restart,
		// The hardened profile's flags count among the extra ones, as
		// they did when they were: a container made then matches.
		Init: !b.cfg.NoInit, Extra: append(slices.Clone(b.cfg.Extra), b.cfg.Hardening.Args()...), Egress: b.egressString(),
	}
}

func (b *Bridge) egressString() string {
	if b.egress.Empty() {
		return ""
	}
	return b.egress.String()
}

// Fingerprint is a short hash of the settings.
func (s Settings) Fingerprint() string {
	sum := sha256.Sum256([]byte(s.json()))
	return hex.EncodeToString(sum[:8])
}

func (s Settings) json() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// settingsLabels are the run labels that record s.
func settingsLabels(s Settings) []string {
	return []string{FingerprintLabel + "=" + s.Fingerprint(), SettingsLabel + "=" + s.json()}
}

// EnvDiff opens Diff's line for the environment.
const EnvDiff = "env "

// Diff lists the settings that differ from want, each as "name: have (asked:
// want)".
func (s Settings) Diff(want Settings) []string {
	var out []string
	add := func(name, have, asked string) {
		if have != asked {
			out = append(out, fmt.Sprintf("%s %s (asked: %s)", name, orNone(have), orNone(asked)))
		}
	}
	add("image", s.Image, want.Image)
	if want.Path != "" {
		add("path", s.Path, want.Path)
	}
	add("mounts", strings.Join(s.Mounts, ","), strings.Join(want.Mounts, ","))
	if !slices.Equal(s.Env, want.Env) {
		// Values may be secrets: only the names are said.
		out = append(out, fmt.Sprintf(EnvDiff+"%s (asked: %s)", orNone(envNames(s.Env)), orNone(envNames(want.Env))))
	}
	add("memory", s.Memory, want.Memory)
	add("cpus", s.CPUs, want.CPUs)
	add("network", s.Network, want.Network)
	add("restart", s.Restart, want.Restart)
	add("init", fmt.Sprint(s.Init), fmt.Sprint(want.Init))
	add("flags", strings.Join(s.Extra, " "), strings.Join(want.Extra, " "))
	add("egress", s.Egress, want.Egress)
	return out
}

func envNames(env []string) string {
	names := make([]string, len(env))
	for i, e := range env {
		names[i], _, _ = strings.Cut(e, "=")
		names[i] += "=..."
	}
	return strings.Join(names, ",")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// seenSettings is what the state directory remembers of a container's
// settings: its fingerprint, and the fingerprints of the requests already
// told that they differ, so that each is said once.
type seenSettings struct {
	Fingerprint string    `json:"fingerprint"`
	Settings    *Settings `json:"settings,omitempty"`
	Told        []string  `json:"told,omitempty"`
}

func (s *State) loadSeen(name string) (seenSettings, bool) {
	var seen seenSettings
	data, err := os.ReadFile(s.path(name, ".settings"))
	if err != nil || json.Unmarshal(data, &seen) != nil {
		return seenSettings{}, false
	}
	return seen, true
}

func (s *State) saveSeen(name string, seen seenSettings) {
	data, _ := json.Marshal(seen)
	tmp := s.path(name, ".settings.tmp")
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, s.path(name, ".settings"))
	}
}

// Drift reports the settings of this call that differ from those the
// container was made with, as recorded in the state directory when this
// state directory made it. It is nil when they agree, when nothing is
// recorded, and when this same request was already told: each difference is
// said once. It costs one small file read and no docker call, so the warm
// path stays as it was; Recreate and status ask docker itself.
func (b *Bridge) Drift(ctx context.Context) []string {
	name := b.Name()
	seen, ok := b.state.loadSeen(name)
	if !ok || seen.Settings == nil {
		return nil
	}
	path, err := b.hostPath(ctx)
	if err != nil {
		path = "" // not known here: not compared
	}
	want := b.settings(path)
	fp := want.Fingerprint()
	if seen.Fingerprint == fp || slices.Contains(seen.Told, fp) {
		return nil
	}
	// The record outlives a container removed from outside (docker rm -f):
	// then this call makes it anew, with its own settings, and nothing
	// differs. Asked only here, where there is something to tell.
	if _, err := b.docker.Inspect(ctx, "{{.Id}}", b.Name()); errors.Is(err, dockercli.ErrNoSuchContainer) {
		return nil
	}
	seen.Told = append(seen.Told, fp)
	b.state.saveSeen(name, seen)
	return seen.Settings.Diff(want)
}

// recordSettings remembers the settings a container was just made with.
func (b *Bridge) recordSettings(s Settings) {
	b.state.saveSeen(b.Name(), seenSettings{Fingerprint: s.Fingerprint(), Settings: &s})
}

// ErrBusy is Recreate's answer while an operation is in flight.
var ErrBusy = errors.New("an operation is in flight")

// Recreate removes the container when it was made with other settings than
// this call's (or with no record of them), so that the next operation makes
// it anew. It reports what differed, and nil when nothing was removed. It
// refuses while an operation of this state directory, or an exec of
// anyone's, is in flight in the container. Unlike Drift it always asks
// docker: it is about to remove something.
func (b *Bridge) Recreate(ctx context.Context) ([]string, error) {
	name := b.Name()
	unlock, err := b.state.Lock(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out, err := b.docker.Inspect(ctx, `{{len .ExecIDs}}{{"\t"}}{{index .Config.Labels "`+SettingsLabel+`"}}`, name)
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	execs, label, _ := strings.Cut(strings.TrimSpace(out), "\t")
	path, err := b.hostPath(ctx)
	if err != nil {
		return nil, err
	}
	want := b.settings(path)
	diff := []string{"settings not recorded (made by another tool or version)"}
	var have Settings
	if json.Unmarshal([]byte(label), &have) == nil {
		if have.Fingerprint() == want.Fingerprint() {
			return nil, nil
		}
		diff = have.Diff(want)
	}
	release, err := b.state.Claim(name)
	if err != nil || execs != "0" {
		if release != nil {
			release()
		}
		return nil, fmt.Errorf("recreate %s: %w: try again once it is over", name, ErrBusy)
	}
	defer release()
	if err := b.docker.Remove(ctx, name); err != nil {
		return nil, fmt.Errorf("recreate %s: %w", name, err)
	}
	if have.Egress != "" && want.Egress == "" {
		// Nothing would use them any more; a new policy replaces the
		// proxy when the container is made.
		if err := b.removeEgress(ctx); err != nil {
			return nil, fmt.Errorf("recreate %s: %w", name, err)
		}
	}
	_ = os.Remove(b.state.path(name, ".settings"))
	return diff, nil
}
