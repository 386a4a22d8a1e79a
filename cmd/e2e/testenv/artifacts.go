package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Tool is a tool the artifact server offers, with one artifact per platform.
type Tool struct {
	Name    string
	Version string
	// File is the artifact's file name in its URL ("hello", "greet.tar.gz").
	File string
	// Extract is the archive member to install, a tools.lock template; empty
	// for a raw binary.
	Extract string
	// Artifacts maps a platform ("linux/amd64") to the artifact's bytes.
	Artifacts map[string][]byte
}

// path is where the server offers the tool's artifact for platform p.
func (t Tool) path(p string) string {
	return fmt.Sprintf("/%s/%s/%s/%s", t.Name, t.Version, strings.ReplaceAll(p, "/", "-"), t.File)
}

// urlTemplate is the tool's url in tools.lock, relative to the server.
func (t Tool) urlTemplate(server string) string {
	return fmt.Sprintf("%s/%s/{{.Version}}/{{.OS}}-{{.Arch}}/%s", server, t.Name, t.File)
}

// SHA256 is the hex digest of the tool's artifact for platform p.
func (t Tool) SHA256(p string) string {
	sum := sha256.Sum256(t.Artifacts[p])
	return hex.EncodeToString(sum[:])
}

// ScriptTool is a raw "binary" (a shell script) that prints its name,
// version and platform, so a test can tell which artifact got installed.
func ScriptTool(name, version string, platforms ...string) Tool {
	t := Tool{Name: name, Version: version, File: name, Artifacts: map[string][]byte{}}
	for _, p := range platforms {
		t.Artifacts[p] = script(name, version, p)
	}
	return t
}

// ArchiveTool is a tar.gz holding NAME-VERSION/bin/NAME (a script, as in
// ScriptTool) next to a README, the usual shape of a release tarball.
func ArchiveTool(name, version string, platforms ...string) Tool {
	t := Tool{Name: name, Version: version, File: name + ".tar.gz",
		Extract: name + "-{{.Version}}/bin/" + name, Artifacts: map[string][]byte{}}
	for _, p := range platforms {
		t.Artifacts[p] = tarGz(map[string][]byte{
			name + "-" + version + "/README":      []byte("the " + name + " tool\n"),
			name + "-" + version + "/bin/" + name: script(name, version, p),
		})
	}
	return t
}

// BinaryTool is a real executable for one platform, such as Debian's kubectl.
func BinaryTool(name, version, platform string, content []byte) Tool {
	return Tool{Name: name, Version: version, File: name, Artifacts: map[string][]byte{platform: content}}
}

func script(name, version, platform string) []byte {
	return []byte(fmt.Sprintf("#!/bin/sh\necho '%s %s %s'\n", name, version, platform))
}

func tarGz(files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	// Fixed order and times: the same tool gives the same bytes, so its
	// digest is stable across runs.
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg, Format: tar.FormatPAX})
		tw.Write(files[n])
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// ArtifactServer serves tool artifacts over HTTP, like a release page.
// It is an http.Handler: tests wrap it in httptest.NewServer, the demo in a
// background process.
type ArtifactServer struct {
	mu    sync.Mutex
	files map[string][]byte
	// Requests counts requests per path, so a test can tell what a build
	// fetched again.
	requests map[string]int
}

// NewArtifactServer returns a server offering tools.
func NewArtifactServer(tools ...Tool) *ArtifactServer {
	s := &ArtifactServer{files: map[string][]byte{}, requests: map[string]int{}}
	for _, t := range tools {
		s.Add(t)
	}
	return s
}

// Add offers every artifact of t.
func (s *ArtifactServer) Add(t Tool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, b := range t.Artifacts {
		s.files[t.path(p)] = b
	}
}

// Corrupt changes one byte of t's artifact for platform p, as a tampered
// mirror or a re-published release would.
func (s *ArtifactServer) Corrupt(t Tool, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := bytes.Clone(s.files[t.path(p)])
	b[len(b)/2] ^= 0x01
	s.files[t.path(p)] = b
}

// Requests returns how often t's artifact for p was asked for.
func (s *ArtifactServer) Requests(t Tool, p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[t.path(p)]
}

func (s *ArtifactServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	s.requests[r.URL.Path]++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}
