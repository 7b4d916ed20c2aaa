package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// A client that keeps its connection open after a request and sends
// nothing more must not hold the proxy's connection (and its memory)
// forever: the container behind the proxy could open them by the thousand.
func TestServeClosesIdleConnections(t *testing.T) {
	old := idleTimeout
	idleTimeout = 100 * time.Millisecond
	t.Cleanup(func() { idleTimeout = old })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, &Proxy{}) }()
	t.Cleanup(func() { cancel(); <-served })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A keep-alive request the proxy answers itself (not a proxy request).
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the proxy closed after the answer: the test needs a kept-alive connection")
	}
	// Generous: only a proxy that never closes idle connections waits this long.
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = br.ReadByte()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("an idle kept-alive connection stays open")
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read after idling: %v, want EOF", err)
	}
}

// A request's host is the container's to choose, and Go's parser lets
// non-ASCII through in an absolute URL: the log, which egress log prints on
// a terminal, must not carry a right-to-left override that disguises the
// name, nor a C1 control a terminal may act on.
func TestProxyLogsHostileHostsPrintable(t *testing.T) {
	log := &syncBuf{}
	srv := httptest.NewServer(&Proxy{Log: log})
	defer srv.Close()
	for _, h := range []string{"evil\u202emoc.test", "a\u009b31mb.test", "caf\u00e9.test"} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET http://%s/ HTTP/1.1\r\nHost: x\r\n\r\n", h)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%q: status %d, want 403", h, resp.StatusCode)
		}
	}
	recs := log.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for _, r := range recs {
		for _, c := range r.Host {
			if c < 0x20 || c >= 0x7f {
				t.Errorf("logged host %q holds %U", r.Host, c)
				break
			}
		}
	}
}
