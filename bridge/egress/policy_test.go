package egress

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string // the policy as written back, or the error's start
	}{
		{[]string{"allow=github.com"}, "allow=github.com"},
		{[]string{"allow=GitHub.com.,*.npmjs.org:443"}, "allow=github.com,*.npmjs.org:443"},
		{[]string{"allow=a.test", "allow=b.test:8080,a.test"}, "allow=a.test,b.test:8080"},
		{[]string{""}, "allow="},
		{[]string{" ", "allow=a.test"}, "allow=a.test"},
		{[]string{"allow=169.254.169.254:80"}, "allow=169.254.169.254:80"},
		{[]string{"allow=[fe80::1]:80,[2001:db8::1]"}, "allow=[fe80::1]:80,[2001:db8::1]"},
		{[]string{"github.com"}, "error: invalid --egress \"github.com\": want allow="},
		{[]string{"allow="}, "error: invalid --egress \"allow=\": no host given"},
		{[]string{"allow=a.test:0"}, "error: invalid --egress rule \"a.test:0\": port \"0\""},
		{[]string{"allow=a.test:http"}, "error: invalid --egress rule \"a.test:http\": port"},
		{[]string{"allow=fe80::1"}, "error: invalid --egress rule \"fe80::1\": write an IPv6 address in brackets"},
		{[]string{"allow=bad_host!"}, "error: invalid --egress rule \"bad_host!\": \"bad_host!\" is not a host name"},
		{[]string{"allow=*.*.x"}, "error: invalid --egress rule \"*.*.x\""},
		{[]string{"allow=-x.test"}, "error: invalid --egress rule"},
	} {
		p, err := ParsePolicy(tc.in)
		got := p.String()
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("ParsePolicy(%q) = %s, want %s...", tc.in, got, tc.want)
		}
	}
}

func TestPolicyAllows(t *testing.T) {
	p, err := ParsePolicy([]string{"allow=github.com,*.example.com,api.test:8443,10.0.0.5:9000,[2001:db8::1]:443"})
	if err != nil {
		t.Fatal(err)
	}
	type q struct {
		host string
		port int
	}
	var got []q
	for _, c := range []q{
		{"github.com", 443}, {"github.com", 80}, {"GitHub.COM.", 443}, {"github.com", 22},
		{"api.github.com", 443}, {"notgithub.com", 443},
		{"a.example.com", 443}, {"a.b.example.com", 80}, {"example.com", 443}, {"badexample.com", 443},
		{"api.test", 8443}, {"api.test", 443},
		{"10.0.0.5", 9000}, {"10.0.0.5", 80},
		{"[2001:db8::1]", 443}, {"2001:db8::1", 443}, {"::ffff:10.0.0.5", 9000},
	} {
		if p.Allows(c.host, c.port) {
			got = append(got, c)
		}
	}
	want := []q{
		{"github.com", 443}, {"github.com", 80}, {"GitHub.COM.", 443},
		{"a.example.com", 443}, {"a.b.example.com", 80},
		{"api.test", 8443},
		{"10.0.0.5", 9000},
		{"[2001:db8::1]", 443}, {"2001:db8::1", 443}, {"::ffff:10.0.0.5", 9000},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(q{})); diff != "" {
		t.Errorf("allowed (-want +got):\n%s", diff)
	}
}
