package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNet maps made-up names to made-up addresses, and those addresses to
// the local test servers, so that the proxy's checks see the addresses a
// real lookup would give while the test stays on loopback.
type fakeNet struct {
	mu     sync.Mutex
	names  map[string][]netip.Addr
	routes map[string]string // made-up ip:port -> real listener address
	dialed []string
}

func (f *fakeNet) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.dialed = append(f.dialed, addr)
	real, ok := f.routes[addr]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dial %s: no route to host", addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, real)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) records(t *testing.T) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q is not a JSON record: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

type rig struct {
	net    *fakeNet
	log    *syncBuf
	proxy  *httptest.Server
	plain  *httptest.Server
	secure *httptest.Server
	client *http.Client
}

var when = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newRig(t *testing.T, allow ...string) *rig {
	t.Helper()
	policy, err := ParsePolicy(allow)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{log: &syncBuf{}}
	r.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "plain %s %s host=%s proxy-conn=%q", req.Method, req.URL.RequestURI(), req.Host, req.Header.Get("Proxy-Connection"))
	}))
	r.secure = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "secure %s %s", req.Method, req.URL.RequestURI())
	}))
	t.Cleanup(r.plain.Close)
	t.Cleanup(r.secure.Close)
	r.net = &fakeNet{
		names: map[string][]netip.Addr{
			"web.test":     {netip.MustParseAddr("192.0.2.10")},
			"secure.test":  {netip.MustParseAddr("192.0.2.11")},
			"rebound.test": {netip.MustParseAddr("169.254.169.254")},
			"mixed.test":   {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("fe80::1")},
			"self.test":    {netip.MustParseAddr("127.0.0.1")},
			"other.test":   {netip.MustParseAddr("192.0.2.12")},
		},
		routes: map[string]string{
			"192.0.2.10:80":          r.plain.Listener.Addr().String(),
			"192.0.2.11:443":         r.secure.Listener.Addr().String(),
			"169.254.169.254:80":     r.plain.Listener.Addr().String(),
			"192.0.2.10:8080":        r.plain.Listener.Addr().String(),
			"192.0.2.12:80":          r.plain.Listener.Addr().String(),
			"[fe80::1]:80":           r.plain.Listener.Addr().String(),
			"169.254.169.254:443":    r.secure.Listener.Addr().String(),
			"192.0.2.12:443":         r.secure.Listener.Addr().String(),
			"192.0.2.11:8443":        r.secure.Listener.Addr().String(),
			"127.0.0.1:80":           r.plain.Listener.Addr().String(),
			"[2001:db8::7]:80":       r.plain.Listener.Addr().String(),
			"[::ffff:192.0.2.10]:80": r.plain.Listener.Addr().String(),
		},
	}
	p := &Proxy{Policy: policy, Log: r.log, Resolver: r.net, Dial: r.net.Dial, Now: func() time.Time { return when }}
	r.proxy = httptest.NewServer(p)
	t.Cleanup(r.proxy.Close)
	proxyURL, _ := url.Parse(r.proxy.URL)
	r.client = &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test server's own certificate
	}}
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

func (r *rig) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := r.client.Get(u)
	if err != nil {
		// A refused CONNECT surfaces as the client's error, with the status.
		return -1, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestProxyForwardsAllowedHTTP(t *testing.T) {
	r := newRig(t, "allow=web.test")
	code, body := r.get(t, "http://web.test/path?q=1")
	if code != 200 || body != `plain GET /path?q=1 host=web.test proxy-conn=""` {
		t.Fatalf("got %d %q", code, body)
	}
	if recs := r.log.records(t); len(recs) != 0 {
		t.Errorf("an allowed request was logged: %+v", recs)
	}
}

func TestProxyTunnelsAllowedCONNECT(t *testing.T) {
	r := newRig(t, "allow=secure.test:443")
	code, body := r.get(t, "https://secure.test/tls")
	if code != 200 || body != "secure GET /tls" {
		t.Fatalf("got %d %q", code, body)
	}
}

func TestProxyDenies(t *testing.T) {
	for _, tc := range []struct {
		name, allow, url string
		want             Record
	}{
		{"other host", "allow=web.test", "http://other.test/", Record{Method: "GET", Host: "other.test", Port: 80, Reason: ReasonNotAllowed}},
		{"other port", "allow=web.test", "http://web.test:8080/", Record{Method: "GET", Host: "web.test", Port: 8080, Reason: ReasonNotAllowed}},
		{"connect other host", "allow=secure.test", "https://other.test/", Record{Method: "CONNECT", Host: "other.test", Port: 443, Reason: ReasonNotAllowed}},
		{"connect other port", "allow=secure.test:443", "https://secure.test:8443/", Record{Method: "CONNECT", Host: "secure.test", Port: 8443, Reason: ReasonNotAllowed}},
		{"wildcard is not the domain", "allow=*.web.test", "http://web.test/", Record{Method: "GET", Host: "web.test", Port: 80, Reason: ReasonNotAllowed}},
		{"metadata literal", "allow=web.test", "http://169.254.169.254/latest/meta-data/", Record{Method: "GET", Host: "169.254.169.254", Port: 80, Reason: ReasonNotAllowed}},
		{"name resolving to metadata", "allow=rebound.test", "http://rebound.test/", Record{Method: "GET", Host: "rebound.test", Port: 80, Addr: "169.254.169.254", Reason: ReasonGuarded}},
		{"connect to a name resolving to metadata", "allow=rebound.test", "https://rebound.test/", Record{Method: "CONNECT", Host: "rebound.test", Port: 443, Addr: "169.254.169.254", Reason: ReasonGuarded}},
		{"one address of several link-local", "allow=mixed.test", "http://mixed.test/", Record{Method: "GET", Host: "mixed.test", Port: 80, Addr: "fe80::1", Reason: ReasonGuarded}},
		{"loopback of the proxy", "allow=self.test", "http://self.test/", Record{Method: "GET", Host: "self.test", Port: 80, Addr: "127.0.0.1", Reason: ReasonGuarded}},
		{"wildcard subdomain resolving to link-local", "allow=*.test", "http://rebound.test/", Record{Method: "GET", Host: "rebound.test", Port: 80, Addr: "169.254.169.254", Reason: ReasonGuarded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.allow)
			code, body := r.get(t, tc.url)
			if tc.want.Method == "CONNECT" {
				if code != -1 || !strings.Contains(body, "Forbidden") {
					t.Fatalf("CONNECT: got %d %q, want the client's Forbidden error", code, body)
				}
			} else if code != http.StatusForbidden || !strings.Contains(body, "by the egress policy") {
				t.Fatalf("got %d %q, want 403", code, body)
			}
			tc.want.Time, tc.want.Action = when, "deny"
			recs := r.log.records(t)
			if len(recs) != 1 || recs[0] != tc.want {
				t.Fatalf("log %+v, want one %+v", recs, tc.want)
			}
			r.net.mu.Lock()
			defer r.net.mu.Unlock()
			if len(r.net.dialed) != 0 {
				t.Errorf("a refused request dialled %v", r.net.dialed)
			}
		})
	}
}

func TestProxyAllowsListedLinkLocal(t *testing.T) {
	r := newRig(t, "allow=169.254.169.254:80,[fe80::1]:80")
	if code, body := r.get(t, "http://169.254.169.254/meta"); code != 200 || !strings.HasPrefix(body, "plain GET /meta") {
		t.Fatalf("listed metadata address: got %d %q", code, body)
	}
	if code, body := r.get(t, "http://[fe80::1]/x"); code != 200 || !strings.HasPrefix(body, "plain GET /x") {
		t.Fatalf("listed fe80::1: got %d %q", code, body)
	}
	// Listing the address allows it on its port only.
	if code, _ := r.get(t, "http://169.254.169.254:8080/meta"); code != 403 {
		t.Fatalf("listed address on another port: got %d, want 403", code)
	}
}

// The proxy dials the address it checked, not the name again: a second
// lookup could be answered with another address.
func TestProxyDialsTheCheckedAddress(t *testing.T) {
	r := newRig(t, "allow=web.test")
	if code, _ := r.get(t, "http://web.test/"); code != 200 {
		t.Fatalf("got %d", code)
	}
	r.net.mu.Lock()
	defer r.net.mu.Unlock()
	if len(r.net.dialed) != 1 || r.net.dialed[0] != "192.0.2.10:80" {
		t.Fatalf("dialled %v, want [192.0.2.10:80]", r.net.dialed)
	}
}

func TestProxyRefusesNonProxyRequests(t *testing.T) {
	r := newRig(t, "allow=web.test,nowhere.test")
	resp, err := http.Get(r.proxy.URL + "/web.test")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("origin-form request: got %d, want 400", resp.StatusCode)
	}
	code, body := r.get(t, "http://nowhere.test/")
	if code != http.StatusBadGateway || !strings.Contains(body, "nowhere.test") {
		t.Fatalf("an allowed name that does not resolve: got %d %q, want 502", code, body)
	}
}

// A CONNECT tunnel carries the bytes both ways as they are, including what
// the client sends right behind its request, and passes a half close on.
func TestProxyTunnelIsTransparent(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		data, _ := io.ReadAll(c) // until the client's half close
		_, _ = c.Write(append([]byte("echo:"), data...))
		c.Close()
	}()
	r := newRig(t, "allow=other.test:7000")
	r.net.routes["192.0.2.12:7000"] = echo.Addr().String()
	c, err := net.Dial("tcp", r.proxy.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The request and the first payload bytes in one write.
	if _, err := io.WriteString(c, "CONNECT other.test:7000 HTTP/1.1\r\nHost: other.test:7000\r\n\r\nearly,"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("status %q", status)
	}
	for line, _ := br.ReadString('\n'); line != "\r\n"; line, _ = br.ReadString('\n') {
		if line == "" {
			t.Fatal("no end of headers")
		}
	}
	_, _ = io.WriteString(c, "late")
	_ = c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(br)
	if string(got) != "echo:early,late" {
		t.Fatalf("through the tunnel: %q", got)
	}
}
