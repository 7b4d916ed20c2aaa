package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DefaultPorts are the ports a rule without one allows: HTTP and HTTPS.
var DefaultPorts = []int{80, 443}

// Rule allows one host, or every subdomain of a domain, on some ports.
type Rule struct {
	// Host is a lower-case name without a trailing dot, or an IP address.
	Host string
	// Wildcard: Host is a domain and the rule allows its subdomains (at
	// any depth), not the domain itself.
	Wildcard bool
	// Addr is set when Host is an IP address.
	Addr netip.Addr
	// Ports the rule allows; a rule written without a port allows
	// DefaultPorts.
	Ports []int
}

// String is the rule as it is written.
func (r Rule) String() string {
	host := r.Host
	if r.Wildcard {
		host = "*." + host
	}
	if r.Addr.Is6() {
		host = "[" + host + "]"
	}
	if slices.Equal(r.Ports, DefaultPorts) {
		return host
	}
	return host + ":" + strconv.Itoa(r.Ports[0])
}

// Policy is an allow list. The zero Policy allows nothing.
type Policy struct {
	Rules []Rule
}

// String is the policy as one allow= value, rules in order.
func (p Policy) String() string {
	parts := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		parts[i] = r.String()
	}
	return "allow=" + strings.Join(parts, ",")
}

// Empty reports whether the policy has no rule.
func (p Policy) Empty() bool { return len(p.Rules) == 0 }

// ParsePolicy reads values of the form allow=HOST[:PORT],... (one per
// --egress flag). A HOST is a name, *.DOMAIN, an IPv4 address or a
// bracketed IPv6 one; without a PORT, 80 and 443 are allowed.
func ParsePolicy(values []string) (Policy, error) {
	var p Policy
	given := false
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue // an empty DOCKERBRIDGE_EGRESS: no policy
		}
		given = true
		list, ok := strings.CutPrefix(strings.TrimSpace(v), "allow=")
		if !ok {
			return Policy{}, fmt.Errorf("invalid --egress %q: want allow=HOST[:PORT],...", v)
		}
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			r, err := ParseRule(item)
			if err != nil {
				return Policy{}, fmt.Errorf("invalid --egress rule %q: %w", item, err)
			}
			if !slices.ContainsFunc(p.Rules, func(o Rule) bool { return o.String() == r.String() }) {
				p.Rules = append(p.Rules, r)
			}
		}
	}
	if given && p.Empty() {
		return Policy{}, fmt.Errorf("invalid --egress %q: no host given", strings.Join(values, " "))
	}
	return p, nil
}

// ParseRule reads one HOST[:PORT].
func ParseRule(s string) (Rule, error) {
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return Rule{}, errors.New("missing ] after an IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return Rule{}, errors.New("want :PORT after ]")
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return Rule{}, errors.New("not an IPv6 address between [ ]")
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	case strings.Count(s, ":") > 1:
		return Rule{}, errors.New("write an IPv6 address in brackets: [ADDR]:PORT")
	}
	r := Rule{Ports: DefaultPorts}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Rule{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		r.Ports = []int{n}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		r.Addr = a.Unmap()
		r.Host = r.Addr.String()
		return r, nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		r.Wildcard, host = true, rest
	}
	if !validName(host) {
		return Rule{}, fmt.Errorf("%q is not a host name", host)
	}
	r.Host = host
	return r, nil
}

// validName accepts DNS names (and the underscores some use), label by label.
func validName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// normHost lower-cases a request's host and drops brackets and a trailing
// dot, so that "Example.COM." matches a rule for example.com.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// Allows reports whether a rule allows host on port, by name alone.
func (p Policy) Allows(host string, port int) bool {
	host = normHost(host)
	for _, r := range p.Rules {
		if !slices.Contains(r.Ports, port) {
			continue
		}
		if r.Wildcard && strings.HasSuffix(host, "."+r.Host) || !r.Wildcard && host == r.Host {
			return true
		}
	}
	return false
}

// namesAddr reports whether a rule names addr itself on port: the only way
// to reach an address that is otherwise refused.
func (p Policy) namesAddr(addr netip.Addr, port int) bool {
	addr = addr.Unmap()
	for _, r := range p.Rules {
		if r.Addr.IsValid() && r.Addr == addr && slices.Contains(r.Ports, port) {
			return true
		}
	}
	return false
}

// guarded reports whether addr is one the proxy refuses unless a rule names
// it: link-local (the cloud metadata endpoints among them), loopback (the
// proxy's own), unspecified and multicast.
func guarded(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsLinkLocalUnicast() || addr.IsLoopback() || addr.IsUnspecified() ||
		addr.IsMulticast() || addr.IsLinkLocalMulticast()
}

// splitHostPort is net.SplitHostPort with the port as a number; def is the
// port when there is none.
func splitHostPort(hostport string, def int) (string, int, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		if def == 0 || strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
			return "", 0, fmt.Errorf("bad host:port %q", hostport)
		}
		return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), def, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", hostport)
	}
	return host, n, nil
}
