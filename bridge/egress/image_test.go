package egress

import (
	"archive/tar"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCheckStaticLinux(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckStaticLinux(text, "amd64"); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("a script: %v", err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	f.Close()
	err = CheckStaticLinux(self, runtime.GOARCH)
	switch {
	case dynamic && (err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0")):
		t.Errorf("a dynamic test binary: %v, want the CGO_ENABLED=0 advice", err)
	case !dynamic && err != nil:
		t.Errorf("a static test binary: %v", err)
	}
	other := map[string]string{"amd64": "arm64"}[runtime.GOARCH]
	if other == "" {
		other = "amd64"
	}
	if err := CheckStaticLinux(self, other); err == nil || !strings.Contains(err.Error(), "the engine runs "+other) {
		t.Errorf("another architecture: %v", err)
	}
}

func TestTarball(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, []byte("\x7fELF..."), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := Tarball(bin)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(tr)
	if hdr.Name != "dockerbridge" || hdr.Mode != 0o755 || string(data) != "\x7fELF..." {
		t.Errorf("entry %s %o %q", hdr.Name, hdr.Mode, data)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than one entry: %v", err)
	}
	sum, _ := HashFile(bin)
	if tag := Tag(sum); !strings.HasPrefix(tag, "dockerbridge-proxy:") || len(tag) != len("dockerbridge-proxy:")+16 {
		t.Errorf("tag %s", tag)
	}
}

func TestParseLog(t *testing.T) {
	out := `dockerbridge proxy: listening on :3128, allow=a.test
{"time":"2026-01-02T03:04:05Z","action":"deny","method":"CONNECT","host":"b.test","port":443,"reason":"not allowed"}
not json
{"time":"2026-01-02T03:04:06Z","action":"deny","method":"GET","host":"m.test","port":80,"addr":"169.254.169.254","reason":"x"}
`
	recs, err := ParseLog(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Host != "b.test" || recs[0].Port != 443 || recs[1].Addr != "169.254.169.254" {
		t.Fatalf("%+v", recs)
	}
}
