package bump

import (
	"strings"
	"testing"

	"github.com/ws-tools/ws/images/lock"
)

const twoPlatformLock = `format: 1
base:
  image: registry.example/debian:bookworm@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241
platforms: [linux/amd64, linux/arm64]
tools:
  kubectl:
    version: v1.36.4
    url: https://example.test/{{.Version}}/{{.OS}}/{{.Arch}}/kubectl
    sha256:
      linux/amd64: 8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a
      linux/arm64: 0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb
`

// A change refused halfway (here: its second checksum) must leave the lock
// as it was, version included.
func TestApplyIsAllOrNothing(t *testing.T) {
	t.Parallel()
	l, err := lock.Parse(lock.FileName, []byte(twoPlatformLock))
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("a", 64)
	err = apply(l, []Change{{Kind: "tool", Tool: "kubectl", From: "v1.36.4", To: "v1.36.5", Checksums: []ChecksumChange{
		{Platform: lock.Platform{OS: "linux", Arch: "amd64"}, From: "x", To: good},
		{Platform: lock.Platform{OS: "linux", Arch: "arm64"}, From: "y", To: "NOT-HEX"},
	}}})
	if err == nil {
		t.Fatal("apply accepted a digest that is not hex")
	}
	if changed, _ := l.Changed(); changed || l.Tool("kubectl").Version != "v1.36.4" {
		t.Fatalf("the lock was edited although apply failed (version %s)", l.Tool("kubectl").Version)
	}
	if err := apply(l, []Change{{Kind: "tool", Tool: "kubectl", From: "v1.36.4", To: "v1.36.5", Checksums: []ChecksumChange{
		{Platform: lock.Platform{OS: "linux", Arch: "amd64"}, From: "x", To: good}}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := l.Bytes()
	if !strings.Contains(string(b), "version: v1.36.5") || !strings.Contains(string(b), "linux/amd64: "+good) {
		t.Fatalf("a valid change was not applied:\n%s", b)
	}
}
