// Command swap exchanges two paths atomically (renameat2 RENAME_EXCHANGE)
// over and over, for the real-engine confinement scenarios: one path is a
// directory in the workspace, the other a symlink out of it. It runs in a
// container, so it is built static and needs nothing from the image.
//
// Usage: swap A B DURATION MARKER. It writes MARKER once it has started,
// and prints the number of exchanges when DURATION is over.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: swap A B DURATION MARKER")
		os.Exit(2)
	}
	d, err := time.ParseDuration(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	a, b := os.Args[1], os.Args[2]
	if err := exchange(a, b); err != nil {
		fmt.Fprintln(os.Stderr, "renameat2:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[4], nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n := 1
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 1000 {
			if err := exchange(a, b); err != nil {
				fmt.Fprintln(os.Stderr, "renameat2:", err)
				os.Exit(1)
			}
			n++
		}
	}
	// An even count leaves both paths as they were.
	if n%2 == 1 {
		_ = exchange(a, b)
		n++
	}
	fmt.Println(n)
}
