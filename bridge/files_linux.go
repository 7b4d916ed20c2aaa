package bridge

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// growPipe makes the pipe w 1 MiB, which wakes docker, which reads the
// other end, 16 times less often. The default limit for this is 1 MiB;
// above it nothing changes.
func growPipe(w *os.File) {
	if rc, err := w.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, setPipeSize, 1<<20)
		})
	}
}

// errNoSplice says splice cannot move this file, before any byte moved.
var errNoSplice = errors.New("splice is not supported here")

// splice moves n bytes of file into the pipe w within the kernel, so that
// none of them is copied through this process.
func splice(w, file *os.File, n int64) (int64, error) {
	rc, err := w.SyscallConn()
	if err != nil {
		return 0, err
	}
	src := int(file.Fd())
	var copied int64
	for copied < n {
		var m int64
		var serr error
		err := rc.Write(func(fd uintptr) bool {
			m, serr = syscall.Splice(src, nil, int(fd), nil, int(min(n-copied, 1<<20)), spliceMove|spliceNonblock)
			return serr != syscall.EAGAIN
		})
		if err == nil && serr == syscall.EINTR {
			continue
		}
		if err == nil {
			err = serr
		}
		if copied == 0 && (errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)) {
			return 0, errNoSplice
		}
		if err != nil {
			return copied, err
		}
		if m == 0 {
			return copied, io.EOF
		}
		copied += m
	}
	return copied, nil
}

const (
	spliceMove     = 0x1  // SPLICE_F_MOVE
	spliceNonblock = 0x2  // SPLICE_F_NONBLOCK: only the pipe side waits, in the poller
	setPipeSize    = 1031 // F_SETPIPE_SZ
)
