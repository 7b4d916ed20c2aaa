package bridge

import "dockerbridge/dockercli"

// The hardened profile narrows what a command in the container can do to the
// host and to the container itself. It costs nothing the bridge needs: exec,
// the file scripts, tmux and git only write under /workspace (HOME and TMPDIR
// point there) and in /tmp, where tmux keeps its socket.

// NoNetwork is the network of a container that reaches no network at all:
// it has only a loopback interface.
const NoNetwork = "none"

// Hardened is the hardened profile:
//
//   - --cap-drop ALL: no capability, even for a process that becomes root;
//   - --security-opt no-new-privileges: a setuid or setcap file runs with
//     the caller's own ids and capabilities, so it gains nothing;
//   - --pids-limit 512: a fork bomb stops at 512 processes in the
//     container instead of exhausting the host's;
//   - --read-only and --tmpfs /tmp: nothing outside /workspace can be
//     changed, and /tmp is a fresh in-memory directory.
//
// A new value is returned each time, so a caller may change it.
func Hardened() dockercli.Hardening {
	return dockercli.Hardening{
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		PidsLimit:   512,
		ReadOnly:    true,
		Tmpfs:       []string{"/tmp"},
	}
}

// Harden returns cfg with the hardened profile and, with noNetwork, its
// network set to none. The profile applies to a container when it is
// created: one that exists keeps the flags it was made with until it is
// removed.
func Harden(cfg Config, harden, noNetwork bool) Config {
	if harden {
		cfg.Hardening = Hardened()
	}
	if noNetwork {
		cfg.Network = NoNetwork
	}
	return cfg
}
