package fetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ws-tools/ws/images/lock"
)

func tarGz(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCheck(t *testing.T) {
	t.Parallel()
	raw := []byte("#!/bin/sh\necho hello\n")
	archive := tarGz(t, "linux-amd64/helm", []byte("helm binary"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/raw":
			w.Write(raw)
		case "/archive.tar.gz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	amd64 := lock.Platform{OS: "linux", Arch: "amd64"}
	tests := []struct {
		name    string
		art     lock.Artifact
		wantErr string
		errType any
	}{
		{"raw binary", lock.Artifact{Tool: "hello", Platform: amd64, URL: srv.URL + "/raw", SHA256: digest(raw)}, "", nil},
		{"archive member", lock.Artifact{Tool: "helm", Platform: amd64, URL: srv.URL + "/archive.tar.gz", Member: "linux-amd64/helm", SHA256: digest(archive)}, "", nil},
		{"checksum mismatch", lock.Artifact{Tool: "hello", Platform: amd64, URL: srv.URL + "/raw", SHA256: strings.Repeat("0", 64)},
			"checksum mismatch for hello (linux/amd64) from " + srv.URL + "/raw: tools.lock pins sha256:" + strings.Repeat("0", 64) + ", download is sha256:" + digest(raw), &lock.ChecksumError{}},
		{"missing member", lock.Artifact{Tool: "helm", Platform: amd64, URL: srv.URL + "/archive.tar.gz", Member: "helm", SHA256: digest(archive)},
			`has no member "helm"`, &lock.MemberError{}},
		{"not an archive", lock.Artifact{Tool: "hello", Platform: amd64, URL: srv.URL + "/raw", Member: "hello", SHA256: digest(raw)},
			"should be an archive", &lock.MemberError{}},
		{"not found", lock.Artifact{Tool: "gone", Platform: amd64, URL: srv.URL + "/gone", SHA256: digest(raw)},
			"download gone (linux/amd64) from " + srv.URL + "/gone: HTTP 404 Not Found", &lock.DownloadError{}},
		{"unreachable", lock.Artifact{Tool: "gone", Platform: amd64, URL: "http://127.0.0.1:1/x", SHA256: digest(raw)},
			"connection refused", &lock.DownloadError{}},
	}
	c := &Checker{Parallel: 2}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := c.Check(context.Background(), tt.art)
			if tt.wantErr == "" {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", r.Err, tt.wantErr)
			}
			switch tt.errType.(type) {
			case *lock.ChecksumError:
				var e *lock.ChecksumError
				if !errors.As(r.Err, &e) || e.Tool != tt.art.Tool || e.Want != tt.art.SHA256 {
					t.Fatalf("want a *lock.ChecksumError naming the tool, got %#v", r.Err)
				}
			case *lock.MemberError:
				var e *lock.MemberError
				if !errors.As(r.Err, &e) {
					t.Fatalf("want *lock.MemberError, got %T", r.Err)
				}
			case *lock.DownloadError:
				var e *lock.DownloadError
				if !errors.As(r.Err, &e) {
					t.Fatalf("want *lock.DownloadError, got %T", r.Err)
				}
			}
		})
	}
}

func TestCheckAllKeepsOrderAndReportsProgress(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	var arts []lock.Artifact
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e"} {
		arts = append(arts, lock.Artifact{Tool: p[1:], URL: srv.URL + p, SHA256: digest([]byte(p))})
	}
	var calls []int
	results := (&Checker{Parallel: 3}).CheckAll(context.Background(), arts, func(done, total int, r Result) {
		calls = append(calls, done)
		if total != len(arts) {
			t.Errorf("total %d", total)
		}
	})
	for i, r := range results {
		if r.Err != nil || r.Artifact.Tool != arts[i].Tool || r.Size != 2 {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if len(calls) != len(arts) || calls[len(calls)-1] != len(arts) {
		t.Fatalf("progress calls %v", calls)
	}
}
