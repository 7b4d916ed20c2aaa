//go:build !linux

package bridge

import (
	"errors"
	"os"
)

// growPipe keeps the system's pipe size: only Linux can change it.
func growPipe(*os.File) {}

// errNoSplice says splice cannot move this file, before any byte moved.
var errNoSplice = errors.New("splice is not supported here")

// splice exists only on Linux; elsewhere the caller copies.
func splice(_, _ *os.File, _ int64) (int64, error) { return 0, errNoSplice }
