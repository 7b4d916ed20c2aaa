package egress

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readAnswers reads n answers from one client connection, with their
// bodies.
func readAnswers(t *testing.T, c net.Conn, method string, n int) ([]int, []string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	var codes []int
	var bodies []string
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("answer %d: %v", len(codes)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d's body: %v", len(codes)+1, err)
		}
		codes = append(codes, resp.StatusCode)
		bodies = append(bodies, string(body))
	}
	return codes, bodies
}

// Every request on a client connection is checked, whether it comes after
// an answer on a kept-alive connection or right behind the first one.
func TestProxyChecksEveryRequestOnAConnection(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		name := "kept alive"
		if pipelined {
			name = "pipelined"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, "allow=web.test")
			c, err := net.Dial("tcp", r.proxy.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			reqs := []string{
				"GET http://web.test/first HTTP/1.1\r\nHost: web.test\r\n\r\n",
				"GET http://other.test/second HTTP/1.1\r\nHost: other.test\r\n\r\n",
				"GET http://web.test/third HTTP/1.1\r\nHost: web.test\r\n\r\n",
			}
			var codes []int
			var bodies []string
			if pipelined {
				if _, err := io.WriteString(c, strings.Join(reqs, "")); err != nil {
					t.Fatal(err)
				}
				codes, bodies = readAnswers(t, c, "GET", 3)
			} else {
				for _, req := range reqs {
					if _, err := io.WriteString(c, req); err != nil {
						t.Fatal(err)
					}
					code, body := readAnswers(t, c, "GET", 1)
					codes, bodies = append(codes, code...), append(bodies, body...)
				}
			}
			if codes[0] != 200 || !strings.HasPrefix(bodies[0], "plain GET /first") {
				t.Errorf("first: %d %q", codes[0], bodies[0])
			}
			if codes[1] != http.StatusForbidden || !strings.Contains(bodies[1], "other.test") {
				t.Errorf("second, to a host not allowed: %d %q, want 403", codes[1], bodies[1])
			}
			if codes[2] != 200 || !strings.HasPrefix(bodies[2], "plain GET /third") {
				t.Errorf("third: %d %q", codes[2], bodies[2])
			}
			if recs := r.log.records(t); len(recs) != 1 || recs[0].Host != "other.test" {
				t.Errorf("log %+v, want the one denial of other.test", recs)
			}
			r.net.mu.Lock()
			defer r.net.mu.Unlock()
			if len(r.net.dialed) == 0 {
				t.Error("dialled nothing")
			}
			for _, a := range r.net.dialed {
				if a != "192.0.2.10:80" {
					t.Errorf("dialled %v, want web.test's address only", r.net.dialed)
				}
			}
		})
	}
}

// The answer reaches the client as the server sent it, whatever its
// framing, and the client's connection stays usable after it.
func TestProxyRelaysAnswers(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than any buffer
	var seen []string
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		conns[req.RemoteAddr] = true
		seen = append(seen, req.Method+" "+req.RequestURI+" connection="+req.Header.Get("Connection")+
			" keep-alive="+req.Header.Get("Keep-Alive")+" x="+req.Header.Get("X-Kept")+" ua="+req.Header.Get("User-Agent"))
		switch req.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Header().Set("Keep-Alive", "timeout=5")
			_, _ = w.Write(big)
		case "/stream":
			for i := range 3 {
				_, _ = io.WriteString(w, "part"+strconv.Itoa(i)+";")
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	r := newRig(t, "allow=web.test")
	r.net.routes["192.0.2.10:80"] = srv.Listener.Addr().String()
	c, err := net.Dial("tcp", r.proxy.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(method, path, extra string) {
		t.Helper()
		req := method + " http://web.test" + path + " HTTP/1.1\r\nHost: web.test\r\nProxy-Connection: keep-alive\r\n" +
			"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Kept: 1\r\n" + extra + "\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	send("GET", "/big", "")
	if codes, bodies := readAnswers(t, c, "GET", 1); codes[0] != 200 || bodies[0] != string(big) {
		t.Fatalf("big: %d, %d bytes, want 200 and %d bytes as sent", codes[0], len(bodies[0]), len(big))
	}
	send("GET", "/stream", "User-Agent: agent/1\r\n")
	if codes, bodies := readAnswers(t, c, "GET", 1); codes[0] != 200 || bodies[0] != "part0;part1;part2;" {
		t.Fatalf("stream: %d %q", codes[0], bodies[0])
	}
	send("HEAD", "/big", "")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(big)) {
		t.Fatalf("HEAD: %v %v, want 200 and the length", resp, err)
	}
	if resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("the server's Keep-Alive reached the client: %q", resp.Header.Get("Keep-Alive"))
	}
	send("GET", "/empty", "")
	resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("empty: %v %v, want 204", resp, err)
	}
	want := []string{
		"GET /big connection= keep-alive= x=1 ua=",
		"GET /stream connection= keep-alive= x=1 ua=agent/1",
		"HEAD /big connection= keep-alive= x=1 ua=",
		"GET /empty connection= keep-alive= x=1 ua=",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the server saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	// Each answer was read to its end, so its connection served the next.
	if len(conns) != 1 {
		t.Errorf("the server saw %d connections, want the one kept", len(conns))
	}
}

// A kept server connection the server has closed meanwhile is not the
// client's problem: the request goes again on a new one.
func TestProxyRetriesOnAClosedKeptConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for i := 1; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err == nil {
				body := "answer " + strconv.Itoa(i)
				// Says nothing of closing, then closes: a server whose
				// keep-alive timeout ran out.
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
			}
			c.Close()
		}
	}()
	r := newRig(t, "allow=web.test")
	r.net.routes["192.0.2.10:80"] = ln.Addr().String()
	for i, want := range []string{"answer 1", "answer 2"} {
		code, body := r.get(t, "http://web.test/")
		if code != 200 || body != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i+1, code, body, want)
		}
	}
}

// A server that sends headers without end gets a 502, not the proxy's
// memory.
func TestProxyBoundsAnswerHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- 0
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("X-Pad: " + strings.Repeat("a", 1000) + "\r\n")
		var n int64
		for n < 256<<20 {
			if _, err := c.Write(line); err != nil {
				break
			}
			n += int64(len(line))
		}
		sent <- n
	}()
	r := newRig(t, "allow=web.test")
	r.net.routes["192.0.2.10:80"] = ln.Addr().String()
	c, err := net.Dial("tcp", r.proxy.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET http://web.test/ HTTP/1.1\r\nHost: web.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	codes, bodies := readAnswers(t, c, "GET", 1)
	if codes[0] != http.StatusBadGateway {
		t.Fatalf("got %d %q, want 502", codes[0], bodies[0])
	}
	if n := <-sent; n >= 256<<20 {
		t.Fatalf("the proxy read %d bytes of headers", n)
	}
}
