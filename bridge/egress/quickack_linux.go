package egress

import (
	"net"
	"syscall"
)

// quickAck makes c acknowledge what it receives next at once. Answering
// the CONNECT turned the connection interactive in the kernel's eyes, and
// it then delays its ACKs by up to 40 ms; a client that leaves Nagle on
// and writes its first request in pieces (a line at a time) would wait
// that long for the ACK before sending the second piece. A fresh
// connection straight to the server acknowledges at once: the tunnel
// should not be slower to start.
func quickAck(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
