package bridge

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A directory copied out onto a name that is a file on the host fails, and
// leaves that file as it was: its content, and its owner and mode too, which
// a copy run as root would otherwise have given to the container's user.
func TestCopyOutDirectoryOntoFileLeavesIt(t *testing.T) {
	host := t.TempDir()
	file := filepath.Join(host, "keep")
	if err := os.WriteFile(file, []byte("precious"), 0o640); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o777, Uid: 4321, Gid: 4321},
		{Name: "d/x", Typeflag: tar.TypeReg, Mode: 0o666, Uid: 4321, Gid: 4321, Size: 1},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write([]byte("x"))
		}
	}
	_ = tw.Close()
	root, err := os.OpenRoot(host)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	n, _, err := readTar(&buf, root, "d", "keep")
	if err == nil || !strings.Contains(err.Error(), "keep") || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("copy of a directory onto a file: err %v, want one naming keep as not a directory", err)
	}
	if n != 0 {
		t.Errorf("%d entries reported copied", n)
	}
	after, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(file)
	bs, as := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
	if string(got) != "precious" || after.Mode() != before.Mode() || as.Uid != bs.Uid || as.Gid != bs.Gid {
		t.Fatalf("the file changed: %q %v %d:%d, was %v %d:%d", got, after.Mode(), as.Uid, as.Gid, before.Mode(), bs.Uid, bs.Gid)
	}
}

// A hard link in the container (a second name of a file, as pnpm's stores
// and cp -al make) is copied out as a second name of the copy: skipping it
// would leave a file out of the copy without a word.
func TestCopyOutKeepsHardLinks(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "d/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4},
		{Name: "d/b", Typeflag: tar.TypeLink, Linkname: "d/a"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write([]byte("data"))
		}
	}
	_ = tw.Close()
	host := t.TempDir()
	root, err := os.OpenRoot(host)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	n, _, err := readTar(&buf, root, "d", "copy")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d entries copied, want 3", n)
	}
	got, err := os.ReadFile(filepath.Join(host, "copy", "b"))
	if err != nil || string(got) != "data" {
		t.Fatalf("the hard link b: %q, %v", got, err)
	}
	a, _ := os.Stat(filepath.Join(host, "copy", "a"))
	b, _ := os.Stat(filepath.Join(host, "copy", "b"))
	if !os.SameFile(a, b) {
		t.Error("b is not a link to a, as it was in the container")
	}
}

// A hard link's target is a name in the stream, and stays in the copy: one
// that names anything outside it is refused.
func TestCopyOutRefusesHardLinksOutOfTheCopy(t *testing.T) {
	for _, target := range []string{"../outside", "/etc/passwd", "e/x"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755})
		_ = tw.WriteHeader(&tar.Header{Name: "d/b", Typeflag: tar.TypeLink, Linkname: target})
		_ = tw.Close()
		host := t.TempDir()
		_ = os.WriteFile(filepath.Join(host, "outside"), []byte("x"), 0o600)
		root, err := os.OpenRoot(host)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := readTar(&buf, root, "d", ""); err == nil {
			t.Errorf("a hard link to %q was made", target)
		}
		root.Close()
	}
}
