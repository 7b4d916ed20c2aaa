package dockertest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// procView stands in for the container's PID namespace: a directory like
// /proc whose numeric entries are only the container's processes (those
// whose environment carries its HOSTNAME, which every exec sets and children
// inherit) and whose other entries lead to the host's. A script that scans
// /proc then sees what it would in the container, not every host process.
//
// The view follows the host's /proc while the exec runs, as the kernel's
// does: a process the command forks after the exec began shows up in it.
func (d *dockerCall) procView(c *Container) (view string, stop func(), err error) {
	view, err = os.MkdirTemp(string(d.dir), "proc-")
	if err != nil {
		return "", nil, err
	}
	mark := "HOSTNAME=" + c.ID[:12]
	linked := map[string]bool{}
	fill := func() error {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if linked[name] {
				continue
			}
			if _, err := strconv.Atoi(name); err == nil {
				env, err := os.ReadFile(filepath.Join("/proc", name, "environ"))
				if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), mark) {
					continue
				}
			}
			if err := os.Symlink(filepath.Join("/proc", name), filepath.Join(view, name)); err != nil {
				return err
			}
			linked[name] = true
		}
		return nil
	}
	if err := fill(); err != nil {
		return "", nil, err
	}
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				_ = fill()
			}
		}
	}()
	return view, func() { close(done); <-ended }, nil
}

// lookPath finds prog on the PATH of env, as the container's runtime would.
func lookPath(prog string, env []string) (string, bool) {
	if strings.Contains(prog, "/") {
		fi, err := os.Stat(prog)
		return prog, err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// hostView maps container paths onto the host: each mount destination
// stands for its source. It is the fake's main approximation of a container
// (README.md): a path argument under a mount is rewritten, a "bash -c"
// script has every mount destination rewritten wherever it appears, and the
// host paths are written back as container paths in the output.
type hostView struct {
	mounts []Mount // longest destination first
}

func newHostView(mounts []Mount) (*hostView, error) {
	hv := &hostView{}
	for _, m := range mounts {
		if m.Source == m.Destination {
			continue
		}
		// realpath in the container reports paths without symlinks; so must
		// the host side, or the scripts' /workspace checks would differ.
		src, err := filepath.EvalSymlinks(m.Source)
		if err != nil {
			return nil, fmt.Errorf("mount source: %w", err)
		}
		hv.mounts = append(hv.mounts, Mount{Source: src, Destination: m.Destination})
	}
	sort.SliceStable(hv.mounts, func(i, j int) bool {
		return len(hv.mounts[i].Destination) > len(hv.mounts[j].Destination)
	})
	return hv, nil
}

// path maps one container path; ok is false when no mount covers it.
func (hv *hostView) path(p string) (string, bool) {
	for _, m := range hv.mounts {
		if p == m.Destination {
			return m.Source, true
		}
		if rest, ok := strings.CutPrefix(p, m.Destination+"/"); ok {
			return m.Source + "/" + rest, true
		}
	}
	return p, false
}

// args maps an argv: the script of "bash -c" or "sh -c" wholesale, every
// other element only when it is itself a path under a mount.
func (hv *hostView) args(argv []string) []string {
	out := make([]string, len(argv))
	shell := func(a string) bool { return filepath.Base(a) == "bash" || filepath.Base(a) == "sh" }
	for i, a := range argv {
		// The script of a shell that a wrapper runs is a script too.
		if i >= 2 && argv[i-1] == "-c" && shell(argv[i-2]) {
			for _, m := range hv.mounts {
				a = strings.ReplaceAll(a, m.Destination, m.Source)
			}
			out[i] = a
			continue
		}
		out[i], _ = hv.path(a)
	}
	return out
}

// reverse writes host paths back as container paths.
func (hv *hostView) reverse(w io.Writer) *replaceWriter {
	r := &replaceWriter{w: w}
	for _, m := range hv.mounts {
		r.pairs = append(r.pairs, [2][]byte{[]byte(m.Source), []byte(m.Destination)})
	}
	return r
}

// replaceWriter replaces strings in a stream. It holds back only a tail that
// could begin a match, so output that is a prompt (the write script's "R")
// still goes out at once.
type replaceWriter struct {
	w       io.Writer
	pairs   [][2][]byte
	pending []byte
}

func (r *replaceWriter) Write(p []byte) (int, error) {
	data := append(r.pending, p...)
	r.pending = nil
	var out []byte
	for len(data) > 0 {
		at, pair := -1, [2][]byte{}
		for _, pr := range r.pairs {
			if i := bytes.Index(data, pr[0]); i >= 0 && (at < 0 || i < at) {
				at, pair = i, pr
			}
		}
		if at >= 0 {
			out = append(out, data[:at]...)
			out = append(out, pair[1]...)
			data = data[at+len(pair[0]):]
			continue
		}
		hold := 0
		for _, pr := range r.pairs {
			for k := min(len(pr[0])-1, len(data)); k > hold; k-- {
				if bytes.HasPrefix(pr[0], data[len(data)-k:]) {
					hold = k
					break
				}
			}
		}
		out = append(out, data[:len(data)-hold]...)
		r.pending = append([]byte{}, data[len(data)-hold:]...)
		break
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what was held back.
func (r *replaceWriter) Flush() {
	_, _ = r.w.Write(r.pending)
	r.pending = nil
}
