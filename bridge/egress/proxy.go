package egress

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record is one log line of the proxy: a refused request.
type Record struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // "deny"
	Method string    `json:"method"`
	Host   string    `json:"host"`
	Port   int       `json:"port"`
	// Addr is the resolved address that was refused, when the name itself
	// was allowed.
	Addr   string `json:"addr,omitempty"`
	Reason string `json:"reason"`
}

// Reasons of a Record.
const (
	ReasonNotAllowed = "not allowed"
	ReasonGuarded    = "link-local, loopback or unspecified address not listed"
)

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Proxy is the allow-list proxy, an http.Handler.
type Proxy struct {
	Policy Policy
	// Log receives one JSON Record per line; nil discards them.
	Log io.Writer
	// Resolver defaults to net.DefaultResolver, Dial to a net.Dialer with
	// a 30 s timeout, Now to time.Now.
	Resolver Resolver
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Now      func() time.Time

	once    sync.Once
	forward *httputil.ReverseProxy
	logMu   sync.Mutex

	idleMu sync.Mutex
	idle   map[netip.AddrPort][]*idleConn
}

type addrsKey struct{}

func (p *Proxy) init() {
	p.once.Do(func() {
		if p.Resolver == nil {
			p.Resolver = net.DefaultResolver
		}
		if p.Dial == nil {
			p.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
		}
		if p.Now == nil {
			p.Now = time.Now
		}
		transport := &http.Transport{
			// Only the addresses the request was checked against are
			// dialled: a second lookup could answer otherwise.
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				addrs, _ := ctx.Value(addrsKey{}).([]netip.AddrPort)
				return p.dialAny(ctx, addrs)
			},
			Proxy:               nil,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		}
		p.forward = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL = pr.In.URL
				pr.Out.Host = pr.In.Host
			},
			Transport:     transport,
			FlushInterval: -1,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusBadGateway)
			},
		}
	})
}

// printable reports whether s is printable ASCII, as every name and
// address a rule can hold is.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// errDenied is check's answer for a refused request; its record is logged.
type errDenied struct{ rec Record }

func (e *errDenied) Error() string {
	if e.rec.Addr != "" {
		return fmt.Sprintf("%s resolves to %s: %s", e.rec.Host, e.rec.Addr, e.rec.Reason)
	}
	return fmt.Sprintf("%s port %d: %s", e.rec.Host, e.rec.Port, e.rec.Reason)
}

// check decides a request for host:port and returns the addresses to dial.
func (p *Proxy) check(ctx context.Context, method, host string, port int) ([]netip.AddrPort, error) {
	rec := Record{Action: "deny", Method: method, Host: normHost(host), Port: port}
	if !printable(rec.Host) {
		// No rule names it; the log, which egress log prints on a
		// terminal, gets it escaped.
		rec.Host = strconv.QuoteToASCII(rec.Host)
		rec.Time, rec.Reason = p.Now().UTC(), ReasonNotAllowed
		return nil, &errDenied{rec}
	}
	deny := func(addr, reason string) error {
		rec.Time, rec.Addr, rec.Reason = p.Now().UTC(), addr, reason
		return &errDenied{rec}
	}
	if !p.Policy.Allows(host, port) {
		return nil, deny("", ReasonNotAllowed)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(rec.Host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = p.Resolver.LookupNetIP(ctx, "ip", rec.Host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", rec.Host, err)
		}
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		// Any refused address refuses the name: a name that answers with
		// the metadata endpoint among others is up to no good.
		if guarded(a) && !p.Policy.namesAddr(a, port) {
			return nil, deny(a.String(), ReasonGuarded)
		}
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: no address", rec.Host)
	}
	return out, nil
}

func (p *Proxy) dialAny(ctx context.Context, addrs []netip.AddrPort) (net.Conn, error) {
	c, _, err := p.dialAddr(ctx, addrs)
	return c, err
}

// dialAddr dials the first of addrs that answers, and says which.
func (p *Proxy) dialAddr(ctx context.Context, addrs []netip.AddrPort) (net.Conn, netip.AddrPort, error) {
	err := errors.New("no address to dial")
	for _, a := range addrs {
		var c net.Conn
		if c, err = p.Dial(ctx, "tcp", a.String()); err == nil {
			return c, a, nil
		}
	}
	return nil, netip.AddrPort{}, err
}

func (p *Proxy) logDenial(rec Record) {
	if p.Log == nil {
		return
	}
	line, _ := json.Marshal(rec)
	p.logMu.Lock()
	defer p.logMu.Unlock()
	_, _ = p.Log.Write(append(line, '\n'))
}

// refuse answers a failed check: 403 and a log line for a denial, 502 for
// a name that does not resolve.
func (p *Proxy) refuse(w http.ResponseWriter, err error) {
	var d *errDenied
	if errors.As(err, &d) {
		p.logDenial(d.rec)
		http.Error(w, "dockerbridge proxy: "+d.Error()+" by the egress policy", http.StatusForbidden)
		return
	}
	http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusBadGateway)
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.init()
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "dockerbridge proxy: send an absolute http:// URL, or CONNECT for https", http.StatusBadRequest)
		return
	}
	host, port, err := splitHostPort(r.URL.Host, 80)
	if err != nil {
		http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	addrs, err := p.check(r.Context(), r.Method, host, port)
	if err != nil {
		p.refuse(w, err)
		return
	}
	if r.Body == http.NoBody && r.Header.Get("Upgrade") == "" {
		p.relay(w, r, addrs)
		return
	}
	p.forward.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), addrsKey{}, addrs)))
}

// maxHeaderBytes bounds an answer's headers, interim answers included.
const maxHeaderBytes = 10 << 20

// hopHeaders are a connection's own, not passed on (RFC 9110, 7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// relay forwards a request without a body to the server, and hands the
// answer's body from the server's socket to the client's in the kernel
// (splice) when its length is known: the cost of a download through the
// proxy is then the second connection's, not a copy of every byte through
// the proxy's memory. The client's connection stays with the http.Server,
// so each request on it, kept alive or pipelined, is read and checked on
// its own; only this one reaches the server.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, addrs []netip.AddrPort) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	// The server's connection is the proxy's own, kept or not whatever
	// the client's is.
	out.Close = false
	removeHopHeaders(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		// Request.Write would add Go's own.
		out.Header.Set("User-Agent", "")
	}
	x, err := p.exchange(r.Context(), out, addrs)
	if err != nil {
		http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	reuse := false
	defer func() { p.finish(x, reuse) }()
	resp := x.resp
	removeHopHeaders(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	length := resp.ContentLength
	if resp.Body == http.NoBody || length == 0 || len(resp.TransferEncoding) > 0 || length < 0 {
		announceTrailers(h, resp.Trailer)
		w.WriteHeader(resp.StatusCode)
		bodyless := resp.Body == http.NoBody || length == 0
		if !bodyless {
			err = copyFlushing(w, resp.Body)
			for k, vv := range resp.Trailer {
				h[http.TrailerPrefix+k] = vv
			}
		}
		// A body that ends with the connection leaves nothing to keep.
		reuse = !resp.Close && err == nil && (bodyless || len(resp.TransferEncoding) > 0)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(resp.StatusCode)
	// What the header's read left in the buffer first, then the rest
	// straight from the socket: the response's ReadFrom hands a limited
	// TCP reader to the client's TCP connection, which splices. The body
	// is not read through resp.Body, whose Close would read it again.
	head, _ := x.br.Peek(int(min(int64(x.br.Buffered()), length)))
	if _, err := w.Write(head); err != nil {
		return
	}
	_, _ = x.br.Discard(len(head))
	rest := length - int64(len(head))
	n, err := io.Copy(w, io.LimitReader(x.up, rest))
	reuse = !resp.Close && err == nil && n == rest
}

// An exchange is one request sent on a server connection, and its
// answer's headers.
type exchange struct {
	up   net.Conn
	addr netip.AddrPort
	br   *bufio.Reader
	resp *http.Response
	stop func() bool
}

// exchange sends out on a kept connection to one of addrs, or a new one.
// Only a request that may be sent twice goes on a kept one: the server
// may have closed it meanwhile, and then it goes again on a new one.
func (p *Proxy) exchange(ctx context.Context, out *http.Request, addrs []netip.AddrPort) (*exchange, error) {
	switch out.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		if c, a, ok := p.takeIdle(addrs); ok {
			if x, err := send(ctx, c, a, out); err == nil {
				return x, nil
			}
		}
	}
	c, a, err := p.dialAddr(ctx, addrs)
	if err != nil {
		return nil, err
	}
	return send(ctx, c, a, out)
}

func send(ctx context.Context, c net.Conn, a netip.AddrPort, out *http.Request) (*exchange, error) {
	// A client that goes away (or the handler's end) ends the server's
	// connection too, and with it a read that waits on the server.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	fail := func(err error) (*exchange, error) {
		stop()
		_ = c.Close()
		return nil, err
	}
	if err := out.Write(c); err != nil {
		return fail(err)
	}
	// A server that sends headers without end must not fill the proxy's
	// memory: they get what http.Transport allows them by default.
	headers := &io.LimitedReader{R: c, N: maxHeaderBytes}
	br := bufio.NewReaderSize(headers, 32<<10)
	resp, err := http.ReadResponse(br, out)
	// Interim answers (100 Continue, 103 Early Hints) carry no body.
	for err == nil && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(br, out)
	}
	headers.N = math.MaxInt64
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		err = errors.New("the server switched protocols unasked")
	}
	if err != nil {
		return fail(err)
	}
	return &exchange{up: c, addr: a, br: br, resp: resp, stop: stop}, nil
}

// finish keeps the exchange's connection for the next request to its
// address when its answer was read to its end and nothing follows it.
func (p *Proxy) finish(x *exchange, reuse bool) {
	if x.stop() && reuse && x.br.Buffered() == 0 {
		p.putIdle(x.addr, x.up)
		return
	}
	_ = x.up.Close()
}

// Kept server connections: a few per address, for a while. They are
// keyed by the address dialled, which a request's check must give again.
const (
	maxIdlePerAddr = 8
	upstreamIdle   = 30 * time.Second
)

type idleConn struct {
	c     net.Conn
	timer *time.Timer
}

func (p *Proxy) takeIdle(addrs []netip.AddrPort) (net.Conn, netip.AddrPort, bool) {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	for _, a := range addrs {
		l := p.idle[a]
		for len(l) > 0 {
			ic := l[len(l)-1]
			l = l[:len(l)-1]
			p.idle[a] = l
			// A timer that has fired closes its connection itself.
			if ic.timer.Stop() {
				return ic.c, a, true
			}
		}
	}
	return nil, netip.AddrPort{}, false
}

func (p *Proxy) putIdle(a netip.AddrPort, c net.Conn) {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	if len(p.idle[a]) >= maxIdlePerAddr {
		_ = c.Close()
		return
	}
	if p.idle == nil {
		p.idle = map[netip.AddrPort][]*idleConn{}
	}
	ic := &idleConn{c: c}
	ic.timer = time.AfterFunc(upstreamIdle, func() {
		p.idleMu.Lock()
		l := p.idle[a]
		for i, o := range l {
			if o == ic {
				p.idle[a] = append(l[:i:i], l[i+1:]...)
				break
			}
		}
		p.idleMu.Unlock()
		_ = c.Close()
	})
	p.idle[a] = append(p.idle[a], ic)
}

func announceTrailers(h, trailer http.Header) {
	for k := range trailer {
		h.Add("Trailer", k)
	}
}

// copyFlushing passes a body of unknown length on as it comes, for
// answers that stream.
func copyFlushing(w http.ResponseWriter, body io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			_ = rc.Flush()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := splitHostPort(r.Host, 0)
	if err != nil {
		http.Error(w, "dockerbridge proxy: CONNECT needs HOST:PORT", http.StatusBadRequest)
		return
	}
	addrs, err := p.check(r.Context(), r.Method, host, port)
	if err != nil {
		p.refuse(w, err)
		return
	}
	up, err := p.dialAny(r.Context(), addrs)
	if err != nil {
		http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	down, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		http.Error(w, "dockerbridge proxy: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		return
	}
	quickAck(down)
	tunnel(down, buf.Reader, up)
}

// tunnel copies both ways until both sides are done, passing each side's
// end on as a half close, so that protocols that shut down writing first
// still get their answer.
func tunnel(down net.Conn, downBuf *bufio.Reader, up net.Conn) {
	defer down.Close()
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if downBuf != nil && downBuf.Buffered() > 0 {
			// Bytes the client sent right after its CONNECT. Written
			// apart, so that the copy below stays a plain socket to
			// socket one, which the kernel splices.
			pending, _ := downBuf.Peek(downBuf.Buffered())
			if _, err := up.Write(pending); err != nil {
				closeWrite(up)
				return
			}
		}
		_, _ = io.Copy(up, down)
		closeWrite(up)
	}()
	_, _ = io.Copy(down, up)
	closeWrite(down)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// idleTimeout closes a kept-alive client connection that sends no request.
var idleTimeout = 2 * time.Minute

// Serve runs the proxy on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, p *Proxy) error {
	// Without IdleTimeout a kept-alive client that goes quiet would hold
	// its connection for ever.
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idleTimeout}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
