package egress

import (
	"net"
	"strconv"
	"time"
)

// String is the record for people, as egress log prints it: time, method,
// host:port and why, with the refused address when the name was allowed.
func (r Record) String() string {
	why := r.Reason
	if r.Addr != "" {
		why += ": " + r.Addr
	}
	return r.Time.Format(time.RFC3339) + "  " + r.Method + " " + net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) + "  " + why
}
