package bridge

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"dockerbridge/dockercli"
)

// The benchmarks split a call's cost into what happens in this process and
// what docker costs. scripts/bench runs them with -bench; plain go test
// never does.

// nopRunner answers every call with exit code 0 at once: what is left of an
// Exec is the bridge's own work.
type nopRunner struct{}

func (nopRunner) Run(context.Context, dockercli.Cmd) (int, error) { return 0, nil }

func benchBridge(b *testing.B, r dockercli.Runner, hostPath string) *Bridge {
	b.Helper()
	st, err := OpenState(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(Config{Project: "bench-" + newID()[:8], HostPath: hostPath},
		&dockercli.Client{Runner: r}, dockercli.OSRunner{}, st)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkExecOverhead is one warm Exec minus the docker process: argv,
// exec id, the activity lock and its two timestamps, the held stderr.
func BenchmarkExecOverhead(b *testing.B) {
	br := benchBridge(b, nopRunner{}, b.TempDir())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Exec(ctx, "true", ExecOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStateEnterLeave is the state directory's part of every call.
func BenchmarkStateEnterLeave(b *testing.B) {
	st, err := OpenState(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		busy, err := st.Enter(ctx, "luzia-bench")
		if err != nil {
			b.Fatal(err)
		}
		busy.Leave()
	}
}

// BenchmarkStartWriter is a command's output passing through the writer
// that strips the start mark and holds back what docker says before it.
func BenchmarkStartWriter(b *testing.B) {
	chunk := bytes.Repeat([]byte("warning: something the command said\n"), 1<<10)
	b.SetBytes(int64(len(chunk)) * 16)
	b.ReportAllocs()
	for b.Loop() {
		h := &startWriter{w: io.Discard, st: &started{}, pre: &bytes.Buffer{}}
		if _, err := h.Write([]byte(startMark + "12\x00")); err != nil {
			b.Fatal(err)
		}
		for range 16 {
			if _, err := h.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkFramer is the host side of a write: framing the input onto the
// pipe that docker reads.
func BenchmarkFramer(b *testing.B) {
	const size = 64 << 20
	src := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		f, err := newFramer(context.Background(), bytes.NewReader(src))
		if err != nil {
			b.Fatal(err)
		}
		f.start()
		n, err := io.Copy(io.Discard, f.r)
		if err != nil || n < size {
			b.Fatalf("read %d bytes of frames (%v), want over %d", n, err, size)
		}
		f.close(context.Background())
	}
}

// requireEngineB is main_test.go's requireEngine for benchmarks: with no
// engine it skips, but never under CI=true or DOCKERBRIDGE_REAL_ENGINE=1.
func requireEngineB(b *testing.B) {
	b.Helper()
	skipShortReal(b)
	err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", DefaultImage).Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
		b.Fatalf("real engine required (CI or DOCKERBRIDGE_REAL_ENGINE set) but docker with %s is not available: %v", DefaultImage, err)
	}
	b.Skip("no docker engine with " + DefaultImage + "; run scripts/setup (never skipped under CI=true)")
}

// BenchmarkEngine compares the bridge with the raw docker calls it wraps, in
// one process and against one running container.
func BenchmarkEngine(b *testing.B) {
	requireEngineB(b)
	ws := b.TempDir()
	if err := os.Chmod(ws, 0o777); err != nil {
		b.Fatal(err)
	}
	br := benchBridge(b, dockercli.OSRunner{}, ws)
	name := br.Name()
	b.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	ctx := context.Background()
	if _, err := br.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	// The container user writes files the benchmark's user may not remove.
	b.Cleanup(func() { _, _ = br.Exec(context.Background(), "rm -rf /workspace/* /workspace/.tmp", ExecOptions{}) })

	b.Run("Exec", func(b *testing.B) {
		for b.Loop() {
			res, err := br.Exec(ctx, "true", ExecOptions{})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("exec: %+v, %v", res, err)
			}
		}
	})
	b.Run("DockerExec", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("docker", "exec", name, "bash", "-c", "true").CombinedOutput(); err != nil {
				b.Fatalf("docker exec: %v: %s", err, out)
			}
		}
	})
	const size = 32 << 20
	src := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	b.Run("Write32MB", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := br.Write(ctx, "bench.bin", bytes.NewReader(src)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DockerCat32MB", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			cmd := exec.Command("docker", "exec", "-i", name, "sh", "-c", "cat > /workspace/raw.bin")
			cmd.Stdin = bytes.NewReader(src)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("docker exec cat: %v: %s", err, out)
			}
		}
	})
	b.Run("Read32MB", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			var n countWriter
			if err := br.ReadTo(ctx, "bench.bin", &n); err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	})
	b.Run("DockerCatOut32MB", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			var n countWriter
			cmd := exec.Command("docker", "exec", name, "cat", "/workspace/bench.bin")
			cmd.Stdout = &n
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || n != size {
				b.Fatalf("docker exec cat: %d bytes: %v: %s", n, err, stderr.String())
			}
		}
	})
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
