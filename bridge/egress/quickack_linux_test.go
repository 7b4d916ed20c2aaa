package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"
	"testing"
)

// keepingListener hands its accepted connections to conns as well.
type keepingListener struct {
	net.Listener
	conns chan net.Conn
}

func (l *keepingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns <- c
	}
	return c, err
}

// A client that leaves Nagle on and writes its first request in the tunnel
// a line at a time waits for the ACK of the first line before it sends the
// next: the proxy's side of the tunnel must acknowledge at once, as a
// server's fresh connection does, not hold its ACK as a connection that
// has just answered does.
func TestTunnelAcknowledgesAtOnce(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	got := make(chan string, 1)
	go func() {
		c, err := up.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
		_, _ = io.Copy(io.Discard, c)
	}()
	policy, _ := ParsePolicy([]string{"allow=slow.test:443"})
	fn := &fakeNet{
		names:  map[string][]netip.Addr{"slow.test": {netip.MustParseAddr("192.0.2.30")}},
		routes: map[string]string{"192.0.2.30:443": up.Addr().String()},
	}
	srv := httptest.NewUnstartedServer(&Proxy{Policy: policy, Resolver: fn, Dial: fn.Dial})
	kl := &keepingListener{Listener: srv.Listener, conns: make(chan net.Conn, 1)}
	srv.Listener = kl
	srv.Start()
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.(*net.TCPConn).SetNoDelay(false); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	fmt.Fprintf(c, "first line\r\n")
	if line := <-got; line != "first line\r\n" {
		t.Fatalf("server got %q", line)
	}
	// The first line went through the tunnel, so the proxy has set its
	// side up; it has sent nothing since, and its socket still says
	// whether it acknowledges at once (1) or holds its ACKs (0).
	down := <-kl.conns
	rc, err := down.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var quick int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		quick, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if quick != 1 {
		t.Fatalf("the proxy's side of the tunnel holds its ACKs (TCP_QUICKACK %d), want 1", quick)
	}
}
