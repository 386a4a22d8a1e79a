package lock

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse checks, for any input: Parse never panics, and a lock it accepts
// is written back byte for byte, and takes an edit without breaking.
// The committed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validLock))
	if b, err := os.ReadFile("../../tools.lock"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		l, err := Parse(FileName, src)
		if err != nil {
			return
		}
		out, err := l.Bytes()
		if err != nil || !bytes.Equal(out, src) {
			t.Fatalf("unchanged lock not written back as read: %v", err)
		}
		if len(l.Tools) == 0 {
			return
		}
		tool := l.Tools[0]
		if err := l.SetVersion(tool.Name, "v9.9.9"); err != nil {
			t.Fatal(err)
		}
		edited, err := l.Bytes()
		if err != nil {
			// An in-place edit may be refused (a value written across lines),
			// but never produce wrong bytes.
			return
		}
		again, err := Parse(FileName, edited)
		if err != nil {
			t.Fatalf("edited lock no longer parses: %v\n%s", err, edited)
		}
		if got := again.Tool(tool.Name).Version; got != "v9.9.9" {
			t.Fatalf("edited version reads back as %q\n%s", got, edited)
		}
		for i, other := range again.Tools[1:] {
			if other.Version != l.Tools[i+1].Version {
				t.Fatalf("edit of %s changed %s", tool.Name, other.Name)
			}
		}
	})
}
