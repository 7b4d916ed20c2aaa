package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
)

// transferSize is what each benchmark iteration moves.
const transferSize = 100 << 20

var zeros = make([]byte, 1<<20)

func sizedServer(b *testing.B) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(transferSize))
		for n := transferSize; n > 0; n -= len(zeros) {
			if _, err := w.Write(zeros[:min(n, len(zeros))]); err != nil {
				return
			}
		}
	}))
	b.Cleanup(ts.Close)
	return ts
}

// get sends one request on a fresh connection to addr and reads the whole
// answer, checking its size.
func get(b *testing.B, addr, connect, target string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	if connect != "" {
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", connect, connect)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("CONNECT: %v %v", resp, err)
		}
	}
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: big.test\r\n\r\n", target)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	if n != transferSize {
		b.Fatalf("%d bytes", n)
	}
}

// BenchmarkTransfer moves 100 MiB from a local server straight, through
// the proxy as plain HTTP, and through a CONNECT tunnel.
func BenchmarkTransfer(b *testing.B) {
	srv := sizedServer(b)
	addr := srv.Listener.Addr().String()
	policy, _ := ParsePolicy([]string{"allow=big.test:80"})
	fn := &fakeNet{
		names:  map[string][]netip.Addr{"big.test": {netip.MustParseAddr("192.0.2.20")}},
		routes: map[string]string{"192.0.2.20:80": addr},
	}
	proxy := httptest.NewServer(&Proxy{Policy: policy, Resolver: fn, Dial: fn.Dial})
	b.Cleanup(proxy.Close)
	paddr := proxy.Listener.Addr().String()
	for _, bc := range []struct{ name, addr, connect, target string }{
		{"direct", addr, "", "/"},
		{"http", paddr, "", "http://big.test/"},
		{"connect", paddr, "big.test:80", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(transferSize)
			for b.Loop() {
				get(b, bc.addr, bc.connect, bc.target)
			}
		})
	}
}
