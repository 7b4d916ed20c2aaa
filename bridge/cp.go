package bridge

import (
	"archive/tar"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"dockerbridge/dockercli"
)

//go:embed scripts/cp.bash
var scriptCp string

func cpScript() string { return scriptCommon + scriptCp }

// CopyResult says what a copy did.
type CopyResult struct {
	Success bool   `json:"success"`
	Source  string `json:"source"`
	Dest    string `json:"dest"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

// where resolves a container path for a copy in the container, by the file
// scripts' rules, and returns the script's two fields.
func (b *Bridge) where(ctx context.Context, op, p, mode string) (string, string, error) {
	abs, err := ContainerPath(p, b.cfg.AllowOutside)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", op, err)
	}
	var out bytes.Buffer
	stderr := dockercli.NewCapBuffer(stderrKeep)
	code, err := b.script(ctx, cpScript(), dockercli.Cmd{Stdout: &out, Stderr: stderr}, false, abs, mode)
	if err != nil {
		return "", "", fmt.Errorf("%s %s: %w", op, p, err)
	}
	if err := scriptError(op, p, code, stderr.String()); err != nil {
		return "", "", err
	}
	f := strings.Split(out.String(), "\x00")
	if len(f) < 2 || !path.IsAbs(f[0]) {
		return "", "", fmt.Errorf("%s %s: unreadable answer from the container", op, p)
	}
	return f[0], f[1], nil
}

// owner is the container's uid and gid, which the files copied in get.
func (b *Bridge) owner(ctx context.Context) (int, int, error) {
	out, err := b.docker.Inspect(ctx, "{{.Config.User}}", b.Name())
	if err != nil {
		return 0, 0, err
	}
	user := strings.TrimSpace(out)
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("container %s runs as %q, not uid:gid: its files' owner is unknown", b.Name(), user)
	}
	return uid, gid, nil
}

// CopyIn copies the host file or directory src to dst in the container, in
// one tar stream through "docker cp -". A dst that is a directory receives
// src under its own name; otherwise the copy is named dst. Every file gets
// the project's uid:gid, set in the stream itself: docker keeps the owners
// it is given (plain docker cp makes them root's). Symlinks are copied as
// links. dst must lie in /workspace.
func (b *Bridge) CopyIn(ctx context.Context, src, dst string) (CopyResult, error) {
	res := CopyResult{Source: src, Dest: dst}
	fi, err := os.Lstat(src)
	if err != nil {
		return res, fmt.Errorf("cp: %w", err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return res, fmt.Errorf("cp %s: neither a file, a directory nor a symlink", src)
	}
	dir, kind, err := b.where(ctx, "cp", dst, "in")
	if err != nil {
		return res, err
	}
	// Like cp -r: a directory receives the copy under its own name, and
	// any other destination becomes the copy.
	abs, err := filepath.Abs(src)
	if err != nil {
		return res, fmt.Errorf("cp: %w", err)
	}
	root := path.Base(filepath.ToSlash(abs)) // "." is named as the directory it is
	if kind != "dir" {
		root = path.Base(dst)
	}
	if root == "." || root == ".." || root == "/" {
		return res, fmt.Errorf("cp: cannot name the copy of %s %q: give the destination's name", src, root)
	}
	uid, gid, err := b.owner(ctx)
	if err != nil {
		return res, fmt.Errorf("cp: %w", err)
	}
	busy, err := b.state.Enter(ctx, b.Name())
	if err != nil {
		return res, err
	}
	defer busy.Leave()
	var tarErr error
	res.Entries, res.Bytes, tarErr, err = b.tarStream(ctx, dockercli.CpInArgs(b.Name(), dir), true,
		func(_ *io.PipeReader, pw *io.PipeWriter) (int, int64, error) {
			n, size, err := writeTar(pw, src, root, uid, gid)
			pw.CloseWithError(err)
			return n, size, err
		})
	if tarErr != nil && !errors.Is(tarErr, io.ErrClosedPipe) {
		// The stream broke on this side: docker saw a cut archive.
		return res, fmt.Errorf("cp %s: %w", src, tarErr)
	}
	if err != nil {
		return res, fmt.Errorf("cp %s: %w", src, err)
	}
	res.Success = true
	return res, nil
}

// tarStream runs the docker cp of args on one end of a pipe while tarSide
// works the other end: for a copy in, docker reads what tarSide writes; for
// a copy out, tarSide reads what docker writes. It gives tarSide's entries,
// bytes and error, and docker's error (its exit status included).
func (b *Bridge) tarStream(ctx context.Context, args []string, in bool, tarSide func(*io.PipeReader, *io.PipeWriter) (int, int64, error)) (int, int64, error, error) {
	pr, pw := io.Pipe()
	type done struct {
		n    int
		size int64
		err  error
	}
	ch := make(chan done, 1)
	go func() {
		n, size, err := tarSide(pr, pw)
		ch <- done{n, size, err}
	}()
	stderr := dockercli.NewCapBuffer(stderrKeep)
	cmd := dockercli.Cmd{Stdout: pw, Stderr: stderr}
	if in {
		cmd = dockercli.Cmd{Stdin: pr, Stderr: stderr}
	}
	code, err := b.docker.Stream(ctx, args, cmd)
	if in {
		pr.CloseWithError(io.ErrClosedPipe)
	} else {
		pw.Close()
	}
	got := <-ch
	if err == nil && code != 0 {
		err = b.docker.Error(args, code, stderr.String())
	}
	return got.n, got.size, got.err, err
}

// writeTar writes src as a tar stream whose top entry is root, every entry
// owned by uid:gid, and reports the entries and bytes written.
func writeTar(w io.Writer, src, root string, uid, gid int) (int, int64, error) {
	tw := tar.NewWriter(w)
	var n int
	var size int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := root
		if rel != "." {
			name = root + "/" + filepath.ToSlash(rel)
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.IsDir(), fi.Mode().IsRegular():
		default:
			return fmt.Errorf("%s: neither a file, a directory nor a symlink", p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = uid, gid, "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n++
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			c, err := io.Copy(tw, f)
			f.Close()
			size += c
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n, size, err
	}
	return n, size, tw.Close()
}

// CopyOut copies src in the container to the host path dst, in one tar
// stream through "docker cp CONTAINER:PATH -". A dst that is a directory
// receives src under its own name; otherwise the copy is named dst, in a
// directory that must exist. Files keep the owner they have in the
// container when this process may give it (root), and their modes. src must
// lie in /workspace; the stream is unpacked confined to the destination
// directory, so no entry of it can land elsewhere.
func (b *Bridge) CopyOut(ctx context.Context, src, dst string) (CopyResult, error) {
	res := CopyResult{Source: src, Dest: dst}
	dir, name, err := b.where(ctx, "cp", src, "out")
	if err != nil {
		return res, err
	}
	real := path.Join(dir, name)
	if !b.cfg.AllowOutside && real != Workspace && !strings.HasPrefix(real, Workspace+"/") {
		return res, fmt.Errorf("cp %s: %w", src, ErrOutside)
	}
	into, rename := dst, ""
	if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
		into, rename = filepath.Dir(dst), filepath.Base(dst)
	}
	rootDir, err := os.OpenRoot(into)
	if err != nil {
		return res, fmt.Errorf("cp: %w", err)
	}
	defer rootDir.Close()
	busy, err := b.state.Enter(ctx, b.Name())
	if err != nil {
		return res, err
	}
	defer busy.Leave()
	var tarErr error
	res.Entries, res.Bytes, tarErr, err = b.tarStream(ctx, dockercli.CpOutArgs(b.Name(), real), false,
		func(pr *io.PipeReader, _ *io.PipeWriter) (int, int64, error) {
			n, size, err := readTar(pr, rootDir, name, rename)
			// Drain what is left, so docker never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, pr)
			return n, size, err
		})
	if err != nil {
		return res, fmt.Errorf("cp %s: %w", src, err)
	}
	if tarErr != nil {
		return res, fmt.Errorf("cp %s: %w", src, tarErr)
	}
	res.Success = true
	return res, nil
}

// readTar unpacks a tar stream whose top entry is top into root, renaming
// top to rename when set. Everything goes through root, so a name or a
// symlink that leads out of it fails instead of writing there.
func readTar(r io.Reader, root *os.Root, top, rename string) (int, int64, error) {
	tr := tar.NewReader(r)
	asRoot := os.Geteuid() == 0
	var n int
	var size int64
	// Directories get their modes last: a read-only one must first take
	// what goes in it.
	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirs []dirMode
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := root.Chmod(dirs[i].name, dirs[i].mode); err != nil {
					return n, size, err
				}
			}
			return n, size, nil
		}
		if err != nil {
			return n, size, err
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		first, rest, _ := strings.Cut(name, "/")
		if first != top || !fs.ValidPath(name) {
			return n, size, fmt.Errorf("unexpected entry %q in the stream", hdr.Name)
		}
		if rename != "" {
			name = rename
			if rest != "" {
				name += "/" + rest
			}
		}
		name = filepath.FromSlash(name)
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return n, size, err
			}
			// Checked before the owner and mode below are set on it.
			if fi, err := root.Stat(name); err != nil {
				return n, size, err
			} else if !fi.IsDir() {
				return n, size, fmt.Errorf("cannot overwrite %s, not a directory, with a directory", name)
			}
		case tar.TypeReg:
			if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
				if err := root.Remove(name); err != nil {
					return n, size, err
				}
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return n, size, err
			}
			c, err := io.Copy(f, tr)
			size += c
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, size, err
			}
		case tar.TypeSymlink:
			if _, err := root.Lstat(name); err == nil {
				if err := root.Remove(name); err != nil {
					return n, size, err
				}
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return n, size, err
			}
		case tar.TypeLink:
			// A second name of a file copied before it, in this copy.
			target := strings.TrimSuffix(hdr.Linkname, "/")
			tfirst, trest, _ := strings.Cut(target, "/")
			if tfirst != top || trest == "" || !fs.ValidPath(target) {
				return n, size, fmt.Errorf("unexpected hard link %q to %q in the stream", hdr.Name, hdr.Linkname)
			}
			if rename != "" {
				target = rename + "/" + trest
			}
			if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
				if err := root.Remove(name); err != nil {
					return n, size, err
				}
			}
			if err := root.Link(filepath.FromSlash(target), name); err != nil {
				return n, size, err
			}
		default:
			// Devices and FIFOs have no place in a workspace copy.
			continue
		}
		n++
		if asRoot {
			if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
				return n, size, err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			dirs = append(dirs, dirMode{name, mode})
		case tar.TypeReg:
			if err := root.Chmod(name, mode); err != nil {
				return n, size, err
			}
		}
	}
}
