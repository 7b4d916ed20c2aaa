package bridge

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A regular file goes as one frame, spliced from where its offset stands;
// every byte arrives, NULs and newlines included.
func TestWriteFromFile(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 3*frameSize+7)
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	src := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, skip := range []int64{0, 5, int64(len(data))} {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(skip, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		res, err := b.Write(t.Context(), "f.bin", f)
		f.Close()
		if err != nil {
			t.Fatalf("from offset %d: %v", skip, err)
		}
		want := WriteResult{Success: true, Message: "Successfully wrote to f.bin", BytesWritten: int64(len(data)) - skip}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("from offset %d: result (-want +got):\n%s", skip, diff)
		}
		got, err := os.ReadFile(filepath.Join(e.ws, "f.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[skip:]) {
			t.Errorf("from offset %d: the file has %d bytes and differs from the %d sent", skip, len(got), len(data)-int(skip))
		}
	}
	if left := writeTemps(t, e.ws); len(left) > 0 {
		t.Errorf("temp files left: %q", left)
	}
}

// The frames of a file: its size, all of it, the end frame; of a pipe:
// frameSize at most each.
func TestFramerFrames(t *testing.T) {
	data := bytes.Repeat([]byte("x"), frameSize+10)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.Write(data)
		pw.Close()
	}()
	tests := []struct {
		name string
		src  io.Reader
		want []int
	}{
		{"file", file, []int{len(data), 0}},
		{"pipe", pr, []int{frameSize, 10, 0}},
	}
	for _, tt := range tests {
		f, err := newFramer(t.Context(), tt.src)
		if err != nil {
			t.Fatal(err)
		}
		f.start()
		var got []int
		for {
			var n int
			if _, err := readHeader(f.r, &n); err != nil {
				t.Fatalf("%s: frame header: %v", tt.name, err)
			}
			got = append(got, n)
			if n == 0 {
				break
			}
			if _, err := io.CopyN(io.Discard, f.r, int64(n)); err != nil {
				t.Fatalf("%s: frame body: %v", tt.name, err)
			}
		}
		sent, ferr := f.close(t.Context())
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: frame sizes (-want +got):\n%s", tt.name, diff)
		}
		if ferr != nil || sent != int64(len(data)) {
			t.Errorf("%s: sent %d bytes (err %v), want %d", tt.name, sent, ferr, len(data))
		}
	}
}

// readHeader reads one "<n>\n" header a byte at a time, as the script's read
// does, so that no frame byte is consumed with it.
func readHeader(r io.Reader, n *int) (int, error) {
	var b [1]byte
	*n = 0
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if b[0] == '\n' {
			return 1, nil
		}
		*n = *n*10 + int(b[0]-'0')
	}
}
