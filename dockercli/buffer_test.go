package dockercli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// reference is what a CapBuffer of max must keep of data: everything when it
// fits, else the first max-max/2 bytes and the last max/2.
func reference(data []byte, max int) (head, tail []byte, truncated bool) {
	if len(data) <= max {
		return data, nil, false
	}
	return data[:max-max/2], data[len(data)-max/2:], true
}

// splits cuts data into writes at random points, with empty writes too.
func splits(r *rand.Rand, data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		var n int
		switch r.IntN(4) {
		case 0:
			n = 0
		case 1:
			n = 1
		case 2:
			n = r.IntN(len(data) + 1)
		default:
			n = r.IntN(8)
		}
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

func TestCapBufferMatchesReference(t *testing.T) {
	const marker = "<cut>"
	r := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{0, 1, 2, 3, 7, 8, 64, 101} {
		for _, size := range []int{0, 1, max - 1, max, max + 1, 2 * max, 3*max + 5, 1000} {
			if size < 0 {
				continue
			}
			data := make([]byte, size)
			for i := range data {
				data[i] = byte('a' + i%26 + (i/26)%2*('A'-'a'))
			}
			for trial := range 20 {
				b := NewCapBuffer(max)
				for _, p := range splits(r, data) {
					n, err := b.Write(p)
					if n != len(p) || err != nil {
						t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
					}
				}
				head, tail, truncated := reference(data, max)
				want := string(head) + string(tail)
				if truncated {
					want = string(head) + marker + string(tail)
				}
				name := fmt.Sprintf("max=%d size=%d trial=%d", max, size, trial)
				if got := string(b.Bytes(marker)); got != want {
					t.Fatalf("%s: Bytes = %q, want %q", name, got, want)
				}
				if got := b.String(); got != string(head)+string(tail) {
					t.Fatalf("%s: String = %q, want %q", name, got, string(head)+string(tail))
				}
				if b.Truncated() != truncated {
					t.Fatalf("%s: Truncated = %v, want %v", name, b.Truncated(), truncated)
				}
				if b.Written() != int64(size) {
					t.Fatalf("%s: Written = %d, want %d", name, b.Written(), size)
				}
			}
		}
	}
}

// Later writes must not disturb what Bytes returned earlier.
func TestCapBufferBytesIsACopy(t *testing.T) {
	b := NewCapBuffer(4)
	b.Write([]byte("abcdef"))
	got := b.Bytes("|")
	b.Write([]byte("XYZW"))
	if string(got) != "ab|ef" {
		t.Errorf("Bytes after a later write = %q, want %q", got, "ab|ef")
	}
	if s := b.String(); s != "abZW" {
		t.Errorf("String = %q, want %q", s, "abZW")
	}
}

// Concurrent writers: every byte is counted, the kept size stays bounded,
// and each write lands whole (writes are serialised).
func TestCapBufferConcurrent(t *testing.T) {
	const (
		writers = 8
		writes  = 500
		max     = 1 << 10
	)
	b := NewCapBuffer(max)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := bytes.Repeat([]byte{byte('a' + w)}, 15)
			line = append(line, '\n')
			for range writes {
				b.Write(line)
				_ = b.Truncated()
				_ = b.Written()
			}
		}()
	}
	// Readers run alongside the writers.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if n := len(b.Bytes("")); n > max {
					t.Errorf("kept %d bytes, max %d", n, max)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got, want := b.Written(), int64(writers*writes*16); got != want {
		t.Errorf("Written = %d, want %d", got, want)
	}
	if !b.Truncated() {
		t.Error("Truncated = false after writing more than max")
	}
	kept := b.String()
	if len(kept) != max {
		t.Fatalf("kept %d bytes, want %d", len(kept), max)
	}
	// max/2 and 16 divide evenly, so head and tail both hold whole lines.
	for i, line := range bytes.SplitAfter([]byte(kept), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if len(line) != 16 || !bytes.Equal(line[:15], bytes.Repeat(line[:1], 15)) {
			t.Fatalf("line %d = %q: a write was torn", i, line)
		}
	}
}
