package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Custom commands of the fault, load and hostile-input scenarios in
// testdata/real. They join realCmds here so that real_test.go stays as it is.
func init() {
	// sigafter [-group] [-stdin FILE] [-minsize N] SIGNAL GLOB CODE PROG
	// ARGS...: runs PROG in a process group of its own; once a file
	// matching GLOB exists (and holds N bytes or more, with -minsize),
	// sends SIGNAL (INT, TERM or KILL) to PROG, or with -group to its
	// whole group as a terminal's Ctrl-C does; fails unless PROG ends
	// within 30s with exit status CODE ("killed" for death by the
	// signal). With -stdin, PROG reads FILE and then a pipe that stays
	// open, so its input never ends. PROG's output becomes the script's.
	realCmds["sigafter"] = realSigAfter
	// maxrss [-o FILE] MB PROG ARGS...: runs PROG with its stdout in FILE
	// (else discarded); fails unless it exits 0 and its peak resident
	// memory, and that of every child it waited for, stayed under MB MiB.
	// Prints "maxrss N MiB".
	realCmds["maxrss"] = realMaxRSS
	// privdocker start|kill|stop|freeze [NAME]: a private dockerd of the
	// script's own, with its own data root, exec root, containerd, socket
	// and bridge; start loads luzia-sandbox:latest into it on the first
	// start and points DOCKER_HOST at it; with NAME, it is one of several
	// engines instead, reached through the docker context NAME, made in a
	// DOCKER_CONFIG of the script's own. kill sends it SIGKILL (a crash);
	// freeze stops it with SIGSTOP, so that it takes calls and answers
	// none; stop ends it and everything it ran. The shared engine is never
	// touched. When the script ends, the private engines, their containers
	// and their files are removed whatever happened.
	realCmds["privdocker"] = realPrivDocker
	// rodir DIR: makes DIR read-only, even for root, with a read-only bind
	// mount of itself that is undone when the script ends.
	realCmds["rodir"] = realRODir
}

var signalNames = map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}

func realSigAfter(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: sigafter [-group] [-stdin FILE] [-minsize N] SIGNAL GLOB CODE PROG [ARGS...]"
	if neg {
		ts.Fatalf("unsupported: ! sigafter")
	}
	group := false
	stdin := ""
	var minSize int64
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-group":
			group, args = true, args[1:]
		case args[0] == "-stdin" && len(args) > 1:
			stdin, args = args[1], args[2:]
		case args[0] == "-minsize" && len(args) > 1:
			n, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				ts.Fatalf("%s: -minsize takes a number of bytes", usage)
			}
			minSize, args = n, args[2:]
		default:
			ts.Fatalf("%s", usage)
		}
	}
	if len(args) < 4 {
		ts.Fatalf("%s", usage)
	}
	sig, ok := signalNames[args[0]]
	if !ok {
		ts.Fatalf("%s: unknown signal %s", usage, args[0])
	}
	glob, want := ts.MkAbs(args[1]), args[2]
	if _, err := strconv.Atoi(want); err != nil && want != "killed" {
		ts.Fatalf("%s: CODE must be a number or killed", usage)
	}
	cmd := exec.Command(realLookPath(ts, args[3]), args[4:]...)
	cmd.Env = realScriptEnv(ts)
	cmd.Dir = ts.MkAbs(".")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var hold *os.File
	if stdin != "" {
		r, w, err := os.Pipe()
		ts.Check(err)
		cmd.Stdin, hold = r, w
		data, err := os.ReadFile(ts.MkAbs(stdin))
		ts.Check(err)
		go func() { _, _ = w.Write(data) }() // then stays open: no EOF
		defer r.Close()
		defer w.Close() // also ends that write if PROG never read it all
	}
	// Only a file PROG makes counts: one that an earlier step left (a
	// killed write's temp file, which the next write sweeps) would have the
	// signal sent before PROG could even handle it.
	before := map[string]bool{}
	if m, _ := filepath.Glob(glob); m != nil {
		for _, f := range m {
			before[f] = true
		}
	}
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	finish := func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			ts.Fatalf("%s did not end within 30s of SIG%s; killed its group", args[3], args[0])
			return nil
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if globSize(glob, before) >= max(minSize, 0) {
			break
		}
		select {
		case err := <-done:
			done <- err
			ts.Fatalf("%s ended before %s appeared: %v\n%s", args[3], args[1], err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			ts.Fatalf("%s did not appear within 60s", args[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	if group {
		pid = -pid
	}
	ts.Check(syscall.Kill(pid, sig))
	err := finish()
	if hold != nil {
		hold.Close()
	}
	_, _ = ts.Stdout().Write(out.Bytes())
	_, _ = ts.Stderr().Write(errb.Bytes())
	got := "0"
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		if st, ok := exitErr.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			got = "killed"
		} else {
			got = strconv.Itoa(exitErr.ExitCode())
		}
	default:
		ts.Fatalf("wait %s: %v", args[3], err)
	}
	if got != want {
		ts.Fatalf("%s ended with %s after SIG%s, want %s", args[3], got, args[0], want)
	}
}

// globSize is the size of the largest file matching glob, those in old
// aside, or -1 if none does.
func globSize(glob string, old map[string]bool) int64 {
	size := int64(-1)
	m, _ := filepath.Glob(glob)
	for _, f := range m {
		if old[f] {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			size = max(size, fi.Size())
		}
	}
	return size
}

func realMaxRSS(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: maxrss [-o FILE] MB PROG [ARGS...]"
	if neg {
		ts.Fatalf("unsupported: ! maxrss")
	}
	outFile := ""
	if len(args) > 1 && args[0] == "-o" {
		outFile, args = args[1], args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("%s", usage)
	}
	limit, err := strconv.Atoi(args[0])
	if err != nil || limit <= 0 {
		ts.Fatalf("%s: MB must be a positive number", usage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, realLookPath(ts, args[1]), args[2:]...)
	cmd.Env = realScriptEnv(ts)
	cmd.Dir = ts.MkAbs(".")
	cmd.Stdout = io.Discard
	if outFile != "" {
		f, err := os.Create(ts.MkAbs(outFile))
		ts.Check(err)
		defer f.Close()
		cmd.Stdout = f
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	_, _ = ts.Stderr().Write(errb.Bytes())
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	// wait4 reports the larger of the process's own peak and that of the
	// children it reaped, in KiB on Linux.
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		ts.Fatalf("maxrss: no resource usage on this system")
	}
	mib := ru.Maxrss / 1024
	fmt.Fprintf(ts.Stdout(), "maxrss %d MiB\n", mib)
	if mib >= int64(limit) {
		ts.Fatalf("%s peaked at %d MiB, want under %d MiB", args[1], mib, limit)
	}
}

// privKey names a private engine: its script, and its name ("" for the
// one DOCKER_HOST points at).
type privKey struct {
	ts   *testscript.TestScript
	name string
}

// privEngine is one script's private dockerd.
type privEngine struct {
	dir    string
	bridge string // its own bridge: the host's docker0 is not its to touch
	daemon *exec.Cmd
	exited chan struct{}
	frozen bool // stopped by SIGSTOP
}

var (
	privMu      sync.Mutex
	privEngines = map[privKey]*privEngine{}
)

func (p *privEngine) host() string { return "unix://" + filepath.Join(p.dir, "docker.sock") }

// docker runs the docker CLI against the private engine.
func (p *privEngine) docker(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", p.host()}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=")
	return cmd.CombinedOutput()
}

func (p *privEngine) running() bool {
	if p.daemon == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs dockerd on the private directories and waits until it answers.
func (p *privEngine) start() error {
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return fmt.Errorf("privdocker needs dockerd on PATH: %w", err)
	}
	log, err := os.OpenFile(filepath.Join(p.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	// A bridge of its own, and no iptables or sysctl changes: the private
	// engine must change nothing on the host's network. (--bridge=none is
	// no way out: dockerd then deletes the bridge named docker0, which is
	// the host engine's.)
	cmd := exec.Command(dockerd, p.args()...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	p.daemon, p.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := p.docker(ctx, "version", "--format", "{{.Server.Version}}")
		cancel()
		if err == nil {
			return nil
		}
		if !p.running() || time.Now().After(deadline) {
			data, _ := os.ReadFile(filepath.Join(p.dir, "dockerd.log"))
			return fmt.Errorf("private dockerd did not answer: %v\n%s", err, lastLines(string(data), 10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *privEngine) args() []string {
	return []string{
		"--data-root", filepath.Join(p.dir, "data"),
		"--exec-root", filepath.Join(p.dir, "exec"),
		"--pidfile", filepath.Join(p.dir, "dockerd.pid"),
		"--host", p.host(),
		"--config-file", filepath.Join(p.dir, "daemon.json"),
		"--bridge", p.bridge,
		"--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
		"--log-level=warn"}
}

// addBridge creates the private engine's bridge, with a /24 of the
// benchmarking range (198.18.0.0/15) that no interface of the host uses.
func (p *privEngine) addBridge() error {
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("dbt%x", b) // at most 15 bytes, as Linux wants
	used := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			used[n.IP.Mask(net.CIDRMask(24, 32)).String()] = true
		}
	}
	var cidr string
	for i := 0; i < 512; i++ {
		k := (int(b[0])<<8 | int(b[1]) + i) % 512
		subnet := net.IPv4(198, byte(18+k/256), byte(k%256), 0).String()
		if !used[subnet] {
			cidr = net.IPv4(198, byte(18+k/256), byte(k%256), 1).String() + "/24"
			break
		}
	}
	if cidr == "" {
		return errors.New("privdocker: no free /24 in 198.18.0.0/15 for a bridge")
	}
	if out, err := exec.Command("ip", "link", "add", name, "type", "bridge").CombinedOutput(); err != nil {
		return fmt.Errorf("privdocker: ip link add %s: %v: %s", name, err, out)
	}
	p.bridge = name
	if out, err := exec.Command("ip", "addr", "add", cidr, "dev", name).CombinedOutput(); err != nil {
		return fmt.Errorf("privdocker: ip addr add %s dev %s: %v: %s", cidr, name, err, out)
	}
	return nil
}

// delBridge removes the private engine's bridge, once nothing uses it.
func (p *privEngine) delBridge() error {
	if p.bridge == "" {
		return nil
	}
	if out, err := exec.Command("ip", "link", "del", p.bridge).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del %s: %v: %s", p.bridge, err, out)
	}
	p.bridge = ""
	return nil
}

// loadImage copies the sandbox image from the engine the suite uses.
func (p *privEngine) loadImage() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", "save", "luzia-sandbox:latest")
	load := exec.CommandContext(ctx, "docker", "-H", p.host(), "load", "-q")
	load.Env = append(os.Environ(), "DOCKER_HOST=")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	var saveErr, loadOut bytes.Buffer
	save.Stderr = &saveErr
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := save.Start(); err != nil {
		return err
	}
	loadRun := load.Run()
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save: %v: %s", err, saveErr.String())
	}
	if loadRun != nil {
		return fmt.Errorf("docker load: %v: %s", loadRun, loadOut.String())
	}
	return nil
}

// kill crashes dockerd. Its containerd dies with it (dockerd asks the kernel
// for that); the containers' shims live on, as after a real crash.
func (p *privEngine) kill() {
	if !p.running() {
		return
	}
	_ = p.daemon.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.frozen = false
	// Wait for containerd to die too: a dockerd started while it is still
	// dying would wait for it and give up. Its pid file goes once it is
	// dead, because this machine's init may leave the zombie for a while,
	// and dockerd takes a zombie for a live containerd.
	pidFile := filepath.Join(p.dir, "exec", "containerd", "containerd.pid")
	defer os.Remove(pidFile)
	data, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	// Only a process whose command line names the private directory is
	// ours: the pid may have been reused since. A zombie has none.
	ours := func() bool {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && bytes.Contains(cmdline, []byte(p.dir+"/"))
	}
	deadline := time.Now().Add(15 * time.Second)
	for ours() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// thaw lets a frozen dockerd run again.
func (p *privEngine) thaw() {
	if p.frozen && p.running() {
		_ = p.daemon.Process.Signal(syscall.SIGCONT)
	}
	p.frozen = false
}

// stop removes every container of the private engine and ends dockerd.
func (p *privEngine) stop() error {
	if !p.running() {
		return nil
	}
	p.thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := p.docker(ctx, "ps", "-aq"); err == nil && len(bytes.TrimSpace(out)) > 0 {
		if out, err := p.docker(ctx, append([]string{"rm", "-f"}, strings.Fields(string(out))...)...); err != nil {
			return fmt.Errorf("remove the private engine's containers: %v: %s", err, out)
		}
	}
	_ = p.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.daemon.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	return nil
}

// destroy leaves nothing of the private engine: a crashed one is started
// again so that it removes its containers itself, then stopped; processes
// still running from its directory (a shim, its containerd) are killed, its
// mounts undone and its files removed.
func (p *privEngine) destroy() []error {
	var errs []error
	if !p.running() {
		if err := p.start(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.stop(); err != nil {
		errs = append(errs, err)
	}
	for _, pid := range pidsUnder(p.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsUnder(p.dir) {
		if err := unmountDetach(m); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if len(mountsUnder(p.dir)) == 0 {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// pidsUnder lists the processes whose command line names dir: only the
// private engine's own processes can, since dir is a fresh temp directory.
func pidsUnder(dir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		data, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(data, []byte(dir+"/")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var ms []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			ms = append(ms, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ms)))
	return ms
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func realPrivDocker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: privdocker start|kill|stop|freeze [NAME]")
	}
	key := privKey{ts: ts}
	if len(args) == 2 {
		key.name = args[1]
	}
	privMu.Lock()
	p := privEngines[key]
	privMu.Unlock()
	switch args[0] {
	case "start":
		if p != nil && p.running() {
			ts.Fatalf("privdocker start: the private engine already runs")
		}
		first := p == nil
		if first {
			if os.Geteuid() != 0 {
				ts.Fatalf("privdocker: a private dockerd needs root")
			}
			// A short path: the engine's sockets live under it, and a
			// socket path may not exceed 107 bytes.
			dir, err := os.MkdirTemp("/tmp", "dbd-")
			ts.Check(err)
			ts.Check(os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o600))
			p = &privEngine{dir: dir}
			privMu.Lock()
			privEngines[key] = p
			privMu.Unlock()
			ts.Defer(func() {
				privMu.Lock()
				delete(privEngines, key)
				privMu.Unlock()
				errs := p.destroy()
				if len(pidsUnder(p.dir)) == 0 {
					if err := p.delBridge(); err != nil {
						errs = append(errs, err)
					}
				}
				for _, err := range errs {
					ts.Logf("privdocker cleanup: %v", err)
				}
			})
			ts.Check(p.addBridge())
		}
		ts.Check(p.start())
		if first {
			ts.Check(p.loadImage())
		}
		if key.name == "" {
			ts.Setenv("DOCKER_HOST", p.host())
		} else if first {
			privContext(ts, key.name, p.host())
		}
	case "kill":
		if p == nil || !p.running() {
			ts.Fatalf("privdocker kill: no private engine runs")
		}
		p.kill()
	case "stop":
		if p == nil {
			ts.Fatalf("privdocker stop: no private engine")
		}
		ts.Check(p.stop())
	case "freeze":
		if p == nil || !p.running() {
			ts.Fatalf("privdocker freeze: no private engine runs")
		}
		ts.Check(p.daemon.Process.Signal(syscall.SIGSTOP))
		p.frozen = true
	default:
		ts.Fatalf("usage: privdocker start|kill|stop|freeze [NAME]")
	}
}

// privContext makes the docker context name for the engine at host, in a
// DOCKER_CONFIG of the script's own, so that the user's contexts stay as
// they are.
func privContext(ts *testscript.TestScript, name, host string) {
	cfg := ts.Getenv("DOCKER_CONFIG")
	if cfg == "" || !strings.HasPrefix(cfg, ts.Getenv("WORK")) {
		cfg = filepath.Join(ts.Getenv("WORK"), ".docker-config")
		ts.Check(os.MkdirAll(cfg, 0o700))
		ts.Setenv("DOCKER_CONFIG", cfg)
	}
	cmd := exec.Command("docker", "context", "create", name, "--docker", "host="+host)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg, "DOCKER_HOST=", "DOCKER_CONTEXT=")
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("docker context create %s: %v: %s", name, err, out)
	}
}
