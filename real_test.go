package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// workspaceUID is the uid:gid a container falls back to when the project
// user does not exist on the host, as it never does in these scripts.
const workspaceUID = 1000

// setupReal gives each real-engine script its own project and workspace, and
// removes every container the script made when it ends, failed or not.
//
// It sets PROJECT (also DOCKERBRIDGE_PROJECT), CTR (the container's name),
// WS (the workspace, owned by uid 1000, for --path) and SCOPED_DOCKER (a
// docker wrapper that narrows "docker ps" to this script's containers, so
// that a reap in one script never stops another script's containers).
func setupReal(env *testscript.Env) error {
	project := "t-" + scriptSlug(env.WorkDir) + "-" + randomHex(3)
	ws := filepath.Join(env.WorkDir, "ws")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return err
	}
	if err := os.Chown(ws, workspaceUID, workspaceUID); err != nil {
		return fmt.Errorf("chown workspace to %d (the suite needs root or CAP_CHOWN): %w", workspaceUID, err)
	}
	bin := filepath.Join(env.WorkDir, ".realbin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	scoped := filepath.Join(bin, "scoped-docker")
	wrapper := "#!/bin/sh\n" +
		"# Narrows docker ps to the containers of project " + project + "*; passes everything else through.\n" +
		"if [ \"$1\" = ps ]; then shift; exec docker ps --filter 'name=^/?luzia-" + project + "' \"$@\"; fi\n" +
		"exec docker \"$@\"\n"
	if err := os.WriteFile(scoped, []byte(wrapper), 0o755); err != nil {
		return err
	}
	env.Setenv("PROJECT", project)
	env.Setenv("DOCKERBRIDGE_PROJECT", project)
	env.Setenv("CTR", "luzia-"+project)
	env.Setenv("WS", ws)
	env.Setenv("SCOPED_DOCKER", scoped)
	// The repository root, for scenarios that use its scripts: go test runs
	// in the package directory, which is the root.
	if repo, err := os.Getwd(); err == nil {
		env.Setenv("REPO", repo)
	}
	keys := []string{}
	for _, kv := range env.Vars {
		// Skip testscript's "/", ":" and "$", which are for scripts only.
		if k, _, _ := strings.Cut(kv, "="); envName.MatchString(k) {
			keys = append(keys, k)
		}
	}
	env.Values[envKeysKey{}] = keys
	t := env.T()
	env.Defer(func() {
		if err := removeContainers(project); err != nil {
			t.Log(err)
		}
		if err := removeNetworks(project); err != nil {
			t.Log(err)
		}
	})
	return nil
}

// scriptSlug is the script's name from its work directory, made fit for a
// container name.
func scriptSlug(workDir string) string {
	name := strings.TrimPrefix(filepath.Base(workDir), "script-")
	name = regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(strings.ToLower(name), "-")
	return strings.Trim(name, "-")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// removeContainers removes every container of project: those labelled with
// it or with a project named project-<suffix>, and those whose name contains
// it (unlabelled ones a script made by hand). The random part of the project
// name keeps this from ever matching another script's containers.
func removeContainers(project string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "--no-trunc", "--format",
		`{{.ID}}{{"\t"}}{{.Names}}{{"\t"}}{{.Label "luzia.project"}}`).Output()
	if err != nil {
		return fmt.Errorf("cleanup: list containers: %w", err)
	}
	var ids []string
	// Only the final newline goes: trimming all space would take the empty
	// label field, and with it the tab, off the last line, and the oldest
	// container, often an unlabelled one a script made, would be skipped.
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		if f[2] == project || strings.HasPrefix(f[2], project+"-") || strings.Contains(f[1], project) {
			ids = append(ids, f[0])
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("cleanup: docker rm -f: %v: %s", err, out)
	}
	return nil
}

var realCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// concurrent N PROG ARGS...: runs N copies of PROG at once, each with the
	// literal $I in its arguments replaced by its index; writes copy i's
	// stdout and stderr to $WORK/out.i and $WORK/err.i; fails unless all
	// exit 0.
	"concurrent": realConcurrent,
	// code [-stdin FILE] N PROG ARGS...: runs PROG (with FILE as its stdin)
	// and fails unless it exits with N; its output becomes the script's
	// stdout and stderr.
	"code": realCode,
	// containers [-running] PROJECT N: exactly N containers (running ones,
	// with -running) carry the label luzia.project=PROJECT.
	"containers": realContainers,
	// owner FILE UID: the host file FILE (not followed if a symlink) is
	// owned by UID.
	"owner": realOwner,
	// perm FILE MODE: the host file FILE has permission bits MODE (octal).
	"perm": realPerm,
	// age PROJECT DURATION: dates the project's last activity (the mtime of
	// $DOCKERBRIDGE_STATE_DIR/luzia-PROJECT.activity) DURATION ago.
	"age": realAge,
	// waitfile FILE [TIMEOUT]: waits until FILE exists (default 30s).
	"waitfile": realWaitfile,
	// jsonsum FILE: prints one line per top-level key of the JSON object in
	// FILE, sorted: key=VALUE, and for a string key.len=N, key.head=JSON and
	// key.tail=JSON of its first and last 32 bytes.
	"jsonsum": realJSONSum,
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envKeysKey holds, in the script's values, the names of the variables
// setup made.
type envKeysKey struct{}

// realScriptEnv is the script's environment for a program run from Go:
// testscript hides its list, so it is rebuilt from the variables setup made
// plus those a script may set with env.
func realScriptEnv(ts *testscript.TestScript) []string {
	keys, _ := ts.Value(envKeysKey{}).([]string)
	keys = append(keys,
		"DOCKERBRIDGE_PROJECT", "DOCKERBRIDGE_STATE_DIR", "DOCKERBRIDGE_IMAGE", "DOCKERBRIDGE_DOCKER", "DOCKERBRIDGE_ENGINES",
		"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")
	seen := map[string]bool{}
	var env []string
	for _, k := range keys {
		if v := ts.Getenv(k); v != "" && !seen[k] {
			seen[k] = true
			env = append(env, k+"="+v)
		}
	}
	return env
}

// realLookPath finds prog on the script's PATH.
func realLookPath(ts *testscript.TestScript, prog string) string {
	if strings.Contains(prog, "/") {
		return prog
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	ts.Fatalf("%s: not found in the script's PATH", prog)
	return ""
}

// realRunProg runs prog with the script's environment and directory, and stdin
// from the file stdin if it is not empty.
func realRunProg(ts *testscript.TestScript, stdin string, extraEnv []string, prog string, args ...string) (stdout, stderr []byte, code int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, realLookPath(ts, prog), args...)
	cmd.Env = append(realScriptEnv(ts), extraEnv...)
	cmd.Dir = ts.MkAbs(".")
	if stdin != "" {
		f, err := os.Open(ts.MkAbs(stdin))
		ts.Check(err)
		defer f.Close()
		cmd.Stdin = f
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		ts.Fatalf("run %s: %v", prog, err)
	}
	return out.Bytes(), errb.Bytes(), code
}

func realConcurrent(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! concurrent")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: concurrent N PROG [ARGS...]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		ts.Fatalf("usage: concurrent N PROG [ARGS...]: N must be a positive number")
	}
	type result struct {
		stdout, stderr []byte
		code           int
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		argv := make([]string, len(args)-1)
		for j, a := range args[1:] {
			argv[j] = strings.ReplaceAll(a, "$I", strconv.Itoa(i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errb, code := realRunProg(ts, "", []string{"I=" + strconv.Itoa(i)}, argv[0], argv[1:]...)
			results[i] = result{out, errb, code}
		}()
	}
	wg.Wait()
	var failed []string
	for i, r := range results {
		ts.Check(os.WriteFile(ts.MkAbs(fmt.Sprintf("out.%d", i)), r.stdout, 0o644))
		ts.Check(os.WriteFile(ts.MkAbs(fmt.Sprintf("err.%d", i)), r.stderr, 0o644))
		if r.code != 0 {
			failed = append(failed, fmt.Sprintf("copy %d exited %d: %s", i, r.code, strings.TrimSpace(string(r.stderr))))
		}
	}
	if len(failed) > 0 {
		ts.Fatalf("%d of %d copies failed:\n%s", len(failed), n, strings.Join(failed, "\n"))
	}
}

func realCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! code")
	}
	const usage = "usage: code [-stdin FILE] N PROG [ARGS...]"
	var stdin string
	if len(args) > 1 && args[0] == "-stdin" {
		stdin, args = args[1], args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf(usage)
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("%s: N must be a number", usage)
	}
	out, errb, code := realRunProg(ts, stdin, nil, args[1], args[2:]...)
	_, _ = ts.Stdout().Write(out)
	_, _ = ts.Stderr().Write(errb)
	if code != want {
		ts.Fatalf("%s exited %d, want %d", args[1], code, want)
	}
}

func realContainers(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: containers [-running] [-engine CTX] PROJECT N"
	running := len(args) > 0 && args[0] == "-running"
	if running {
		args = args[1:]
	}
	var global []string
	if len(args) > 1 && args[0] == "-engine" {
		global = []string{"--context", args[1]}
		args = args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf(usage)
	}
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf(usage + ": N must be a number")
	}
	psArgs := append(global, "ps", "--no-trunc", "--filter", "label=luzia.project="+args[0], "--format", "{{.Names}}")
	if !running {
		psArgs = append(psArgs, "-a")
	}
	cmd := exec.Command("docker", psArgs...)
	if global != nil {
		// The engine's context lives in the script's own DOCKER_CONFIG.
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+ts.Getenv("DOCKER_CONFIG"))
	}
	out, err := cmd.Output()
	ts.Check(err)
	names := strings.Fields(string(out))
	if (len(names) == want) == neg {
		ts.Fatalf("%d containers labelled luzia.project=%s (%s), want %s%d", len(names), args[0], strings.Join(names, " "), map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func realOwner(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: owner FILE UID")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("usage: owner FILE UID: UID must be a number")
	}
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	uid := int(fi.Sys().(*syscall.Stat_t).Uid)
	if (uid == want) == neg {
		ts.Fatalf("%s is owned by uid %d, want %s%d", args[0], uid, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func realPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("usage: perm FILE MODE: MODE must be octal")
	}
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := fi.Mode().Perm()
	if (got == os.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func realAge(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! age")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: age PROJECT DURATION")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("usage: age PROJECT DURATION: %v", err)
	}
	p := filepath.Join(ts.Getenv("DOCKERBRIDGE_STATE_DIR"), "luzia-"+args[0]+".activity")
	if _, err := os.Stat(p); err != nil {
		ts.Fatalf("age: the project has no recorded activity: %v", err)
	}
	t := time.Now().Add(-d)
	ts.Check(os.Chtimes(p, t, t))
}

func realWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [TIMEOUT]")
	}
	timeout := 30 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		if err != nil {
			ts.Fatalf("usage: waitfile FILE [TIMEOUT]: %v", err)
		}
		timeout = d
	}
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within %s", args[0], timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func realJSONSum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: jsonsum FILE")
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &obj); err != nil {
		ts.Fatalf("jsonsum %s: %v", args[0], err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	quote := func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		ts.Check(enc.Encode(v))
		return strings.TrimSuffix(b.String(), "\n")
	}
	w := ts.Stdout()
	for _, k := range keys {
		s, ok := obj[k].(string)
		if !ok {
			fmt.Fprintf(w, "%s=%s\n", k, quote(obj[k]))
			continue
		}
		fmt.Fprintf(w, "%s.len=%d\n%s.head=%s\n%s.tail=%s\n", k, len(s), k, quote(s[:min(32, len(s))]), k, quote(s[max(0, len(s)-32):]))
	}
}
