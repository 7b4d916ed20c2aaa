package egress

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// ParseLog reads the denials out of the proxy's output, skipping any other
// line (a start message, a crash's text).
func ParseLog(r io.Reader) ([]Record, error) {
	recs := []Record{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec Record
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Action == "deny" {
			recs = append(recs, rec)
		}
	}
	return recs, sc.Err()
}
