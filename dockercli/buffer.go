package dockercli

import "sync"

// CapBuffer is an io.Writer that keeps at most Max bytes: the first half and
// the last half of what was written, so both the start of an output and its
// end survive. It is safe for concurrent writes.
type CapBuffer struct {
	Max int

	mu      sync.Mutex
	head    []byte
	tail    []byte // ring of the last bytes once head is full
	start   int    // index of the oldest byte in tail when it is full
	written int64
}

// NewCapBuffer returns a buffer that keeps at most max bytes.
func NewCapBuffer(max int) *CapBuffer { return &CapBuffer{Max: max} }

func (b *CapBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.written += int64(n)
	headMax := b.Max - b.Max/2
	tailMax := b.Max / 2
	if room := headMax - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if tailMax == 0 || len(p) == 0 {
		return n, nil
	}
	if len(p) >= tailMax {
		b.tail = append(b.tail[:0], p[len(p)-tailMax:]...)
		b.start = 0
		return n, nil
	}
	if room := tailMax - len(b.tail); room > 0 {
		k := min(room, len(p))
		b.tail = append(b.tail, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // the ring is full: overwrite the oldest bytes
		k := copy(b.tail[b.start:], p)
		p = p[k:]
		b.start = (b.start + k) % tailMax
	}
	return n, nil
}

// Truncated reports whether bytes were dropped.
func (b *CapBuffer) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written > int64(b.Max)
}

// Written is the number of bytes written, kept or not.
func (b *CapBuffer) Written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}

// Bytes returns what was kept. When bytes were dropped, marker stands between
// the head and the tail.
func (b *CapBuffer) Bytes(marker string) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, len(b.head)+len(b.tail)+len(marker))
	out = append(out, b.head...)
	if b.written > int64(b.Max) {
		out = append(out, marker...)
	}
	out = append(out, b.tail[b.start:]...)
	return append(out, b.tail[:b.start]...)
}

// String returns what was kept, without a marker.
func (b *CapBuffer) String() string { return string(b.Bytes("")) }
