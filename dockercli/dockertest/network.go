package dockertest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Network is a user-defined network of the fake engine.
type Network struct {
	Name     string            `json:"name"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  []string          `json:"options,omitempty"`
	// Members are the names of the containers attached to it.
	Members []string `json:"members,omitempty"`
}

// Platform is what "docker version" reports of the fake engine.
const Platform = "linux/amd64"

// builtinNetworks exist on every engine and are never created or removed.
var builtinNetworks = []string{"bridge", "host", "none"}

func (st *engineState) network(name string) *Network {
	for _, n := range st.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// detach takes a removed container off every network.
func (st *engineState) detach(name string) {
	for _, n := range st.Networks {
		n.Members = slices.DeleteFunc(n.Members, func(m string) bool { return m == name })
	}
}

var networkCreateFlags = flagSpec{
	names: map[string]string{"--internal": "internal", "--label": "label", "-d": "driver", "--driver": "driver", "-o": "opt", "--opt": "opt"},
	bools: map[string]bool{"internal": true},
}

func (d *dockerCall) networkCreate(args []string) int {
	f, err := networkCreateFlags.parse(args)
	if err != nil {
		return d.flagError("network create", err)
	}
	if len(f.rest) != 1 {
		fmt.Fprintln(d.stderr, "\"docker network create\" requires exactly 1 argument.")
		return 1
	}
	name := f.rest[0]
	n := &Network{Name: name, Internal: f.has("internal"), Labels: map[string]string{}, Options: f.values["opt"]}
	for _, l := range f.values["label"] {
		k, v, _ := strings.Cut(l, "=")
		n.Labels[k] = v
	}
	code := 0
	err = d.dir.update(func(st *engineState) error {
		if slices.Contains(builtinNetworks, name) || st.network(name) != nil {
			fmt.Fprintf(d.stderr, "Error response from daemon: network with name %s already exists\n", name)
			code = 1
			return nil
		}
		st.Networks = append(st.Networks, n)
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	if code == 0 {
		sum := sha256.Sum256([]byte(name))
		fmt.Fprintln(d.stdout, hex.EncodeToString(sum[:]))
	}
	return code
}

func (d *dockerCall) networkConnect(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(d.stderr, "\"docker network connect\" requires exactly 2 arguments.")
		return 1
	}
	netName, ref := args[0], args[1]
	code := 0
	err := d.dir.update(func(st *engineState) error {
		n, c := st.network(netName), st.find(ref)
		switch {
		case n == nil:
			fmt.Fprintf(d.stderr, "Error response from daemon: network %s not found\n", netName)
			code = 1
		case c == nil:
			fmt.Fprintf(d.stderr, "Error response from daemon: No such container: %s\n", ref)
			code = 1
		case slices.Contains(n.Members, c.Name):
			fmt.Fprintf(d.stderr, "Error response from daemon: endpoint with name %s already exists in network %s\n", c.Name, netName)
			code = 1
		default:
			n.Members = append(n.Members, c.Name)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	return code
}

func (d *dockerCall) networkRm(args []string) int {
	code := 0
	err := d.dir.update(func(st *engineState) error {
		for _, name := range args {
			n := st.network(name)
			switch {
			case n == nil:
				fmt.Fprintf(d.stderr, "Error: No such network: %s\n", name)
				code = 1
			case len(n.Members) > 0:
				fmt.Fprintf(d.stderr, "Error response from daemon: error while removing network: network %s id %x has active endpoints\n", name, sha256.Sum256([]byte(name)))
				code = 1
			default:
				st.Networks = slices.DeleteFunc(st.Networks, func(o *Network) bool { return o == n })
				fmt.Fprintln(d.stdout, name)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	return code
}

// networkLs lists the networks, one name a line, with --filter label=K[=V].
func (d *dockerCall) networkLs(args []string) int {
	var want []string
	for i := 0; i < len(args); i++ {
		if (args[i] == "--filter" || args[i] == "-f") && i+1 < len(args) {
			want = append(want, strings.TrimPrefix(args[i+1], "label="))
			i++
		}
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	for _, n := range st.Networks {
		ok := true
		for _, w := range want {
			k, v, hasV := strings.Cut(w, "=")
			have, found := n.Labels[k]
			ok = ok && found && (!hasV || have == v)
		}
		if ok {
			fmt.Fprintln(d.stdout, n.Name)
		}
	}
	return 0
}

func (d *dockerCall) imageInspect(args []string) int {
	var format string
	if len(args) >= 2 && args[0] == "--format" {
		format, args = args[1], args[2:]
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	code := 0
	for _, ref := range args {
		if !slices.Contains(st.Images, ref) {
			fmt.Fprintf(d.stderr, "Error: No such image: %s\n", ref)
			code = 1
			continue
		}
		sum := sha256.Sum256([]byte(ref))
		if format == "" {
			fmt.Fprintf(d.stdout, "[{\"Id\": \"sha256:%x\"}]\n", sum)
		} else {
			fmt.Fprintf(d.stdout, "sha256:%x\n", sum)
		}
	}
	return code
}

var importFlags = flagSpec{names: map[string]string{"-c": "change", "--change": "change", "-m": "message", "--message": "message"}}

// imp emulates "docker import - TAG": it reads the tarball and keeps the
// tag; its changes are recorded in the argv log only.
func (d *dockerCall) imp(args []string) int {
	f, err := importFlags.parse(args)
	if err != nil {
		return d.flagError("import", err)
	}
	if len(f.rest) != 2 || f.rest[0] != "-" {
		fmt.Fprintln(d.stderr, "fakedocker: only import - TAG is emulated")
		return 125
	}
	h := sha256.New()
	if _, err := io.Copy(h, d.stdin); err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: import: %v\n", err)
		return 1
	}
	err = d.dir.update(func(st *engineState) error {
		if !slices.Contains(st.Images, f.rest[1]) {
			st.Images = append(st.Images, f.rest[1])
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	fmt.Fprintf(d.stdout, "sha256:%x\n", h.Sum(nil))
	return 0
}

// logs prints what a container has written to its stdout: the Logs a test
// gave it.
func (d *dockerCall) logs(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(d.stderr, "fakedocker: only logs NAME is emulated")
		return 125
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	c := st.find(args[0])
	if c == nil {
		fmt.Fprintf(d.stderr, "Error: No such container: %s\n", args[0])
		return 1
	}
	fmt.Fprint(d.stdout, c.Logs)
	return 0
}

// Networks are the engine's user-defined networks, in creation order.
func (e *Engine) Networks() []Network {
	st, err := stateDir(e.Dir).load()
	if err != nil {
		return nil
	}
	var out []Network
	for _, n := range st.Networks {
		out = append(out, *n)
	}
	return out
}

// Imported are the images docker import made.
func (e *Engine) Imported() []string {
	st, err := stateDir(e.Dir).load()
	if err != nil {
		return nil
	}
	return st.Images
}

// SetLogs gives a container what docker logs prints of it.
func (e *Engine) SetLogs(name, logs string) error {
	return stateDir(e.Dir).update(func(st *engineState) error {
		c := st.byName(name)
		if c == nil {
			return fmt.Errorf("dockertest: no container %s", name)
		}
		c.Logs = logs
		return nil
	})
}
