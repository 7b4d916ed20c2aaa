package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// State is the directory shared by every dockerbridge process on a host. Per
// container it holds NAME.lock, taken exclusively while the container is
// being ensured, and NAME.activity, whose mtime is the last activity and on
// which each operation holds a shared lock while it runs. The kernel drops
// the locks of a process that dies, so nothing in flight is ever stale.
type State struct {
	dir string
}

// DefaultStateDir is $XDG_STATE_HOME/dockerbridge, else
// ~/.local/state/dockerbridge.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "dockerbridge")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "dockerbridge-state")
	}
	return filepath.Join(home, ".local", "state", "dockerbridge")
}

// OpenState creates dir if needed and checks that it is writable, because a
// reaper that cannot see activity would stop busy containers.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := syscall.Access(dir, 0o2 /* W_OK */); err != nil {
		return nil, fmt.Errorf("state directory %s is not writable: %w", dir, err)
	}
	return &State{dir: dir}, nil
}

// Dir is the directory.
func (s *State) Dir() string { return s.dir }

func (s *State) path(name, ext string) string { return filepath.Join(s.dir, name+ext) }

// Lock takes the exclusive per-container lock that serialises starting it.
func (s *State) Lock(ctx context.Context, name string) (unlock func(), err error) {
	f, err := openLocked(ctx, s.path(name, ".lock"), syscall.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// Busy marks an operation in flight on a container.
type Busy struct {
	f *os.File
}

// Enter records activity and holds a shared lock until Leave. It waits while
// a reaper holds the container.
func (s *State) Enter(ctx context.Context, name string) (*Busy, error) {
	f, err := openLocked(ctx, s.path(name, ".activity"), syscall.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("record activity: %w", err)
	}
	touch(f)
	return &Busy{f: f}, nil
}

// Leave records activity again and releases the shared lock.
func (b *Busy) Leave() {
	if b == nil || b.f == nil {
		return
	}
	touch(b.f)
	b.f.Close()
	b.f = nil
}

func touch(f *os.File) {
	now := time.Now()
	_ = os.Chtimes(f.Name(), now, now)
}

// LastActivity is when an operation last touched name, if ever.
func (s *State) LastActivity(name string) (time.Time, bool) {
	fi, err := os.Stat(s.path(name, ".activity"))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// Claim takes the activity lock exclusively without waiting. It fails with
// errBusy while any operation is in flight. While held, new operations wait.
func (s *State) Claim(name string) (release func(), err error) {
	p := s.path(name, ".activity")
	f, err := os.OpenFile(p, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		// No activity was ever recorded: create the file dated at the epoch
		// so that creating it does not count as activity.
		f, err = os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
		if err == nil {
			_ = os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
		}
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errBusy
		}
		return nil, err
	}
	if !samePath(f) {
		// Forgotten between the open and the lock: nothing can be in flight.
		f.Close()
		return s.Claim(name)
	}
	return func() { f.Close() }, nil
}

// openLocked opens (creating it) and locks the file at p. Forget may unlink
// a file between another process's open and its lock; a lock on such an
// orphan protects nothing, so it is dropped and the file opened again.
func openLocked(ctx context.Context, p string, how int) (*os.File, error) {
	for {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		if err := flock(ctx, f, how); err != nil {
			f.Close()
			return nil, err
		}
		if samePath(f) {
			return f, nil
		}
		f.Close()
	}
}

// samePath reports whether the open file is still the one at its path.
func samePath(f *os.File) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(f.Name())
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// stateExts are the files the state directory keeps per container.
var stateExts = []string{".activity", ".lock", ".settings", engineExt}

// Names lists the containers that have files in the state directory.
func (s *State) Names() []string {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		for _, ext := range stateExts {
			if n, ok := strings.CutSuffix(e.Name(), ext); ok && n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// LastTouched is the latest mtime of name's files, if it has any.
func (s *State) LastTouched(name string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, ext := range stateExts {
		if fi, err := os.Stat(s.path(name, ext)); err == nil {
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	return last, found
}

// Forget removes name's files, unless an operation or a start holds them:
// it locks each without waiting and unlinks it while the lock is held. It
// reports whether it removed them.
func (s *State) Forget(name string) bool {
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	var paths []string
	for _, ext := range stateExts {
		p := s.path(name, ext)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil || syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			if f != nil {
				f.Close()
			}
			return false
		}
		held = append(held, f)
		paths = append(paths, p)
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return len(paths) > 0
}

var errBusy = errors.New("operation in flight")

// flock waits for a lock, polling so that ctx can end the wait.
func flock(ctx context.Context, f *os.File, how int) error {
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
