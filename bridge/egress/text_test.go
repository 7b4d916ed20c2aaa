package egress

import (
	"testing"
	"time"
)

func TestRecordString(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Time: at, Method: "CONNECT", Host: "evil.example", Port: 443, Reason: ReasonNotAllowed},
			"2026-03-04T05:06:07Z  CONNECT evil.example:443  not allowed"},
		{Record{Time: at, Method: "GET", Host: "fd00::1", Port: 80, Addr: "[fd00::1]:80", Reason: ReasonGuarded},
			"2026-03-04T05:06:07Z  GET [fd00::1]:80  " + ReasonGuarded + ": [fd00::1]:80"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
