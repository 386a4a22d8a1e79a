// Package fetch downloads tool artifacts and checks them against their pins:
// the sha256 of the bytes and, for archives, the member to install. It is
// what `ws lock verify` and `ws lock bump` trust; it never writes a file.
package fetch

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sync"

	"github.com/ws-tools/ws/images/lock"
)

// MaxArtifactSize caps one download: no CLI comes near it, and a
// repository's URL must not be able to fill the disk or memory.
const MaxArtifactSize = 1 << 30

// Result is one checked artifact.
type Result struct {
	Artifact lock.Artifact
	Size     int64
	// SHA256 is the digest of what was downloaded (empty if nothing was).
	SHA256 string
	Err    error
}

// Checker downloads artifacts with one HTTP client.
type Checker struct {
	Client *http.Client
	// Parallel bounds concurrent downloads; artifacts are large and many
	// share one upstream host.
	Parallel int
}

// CheckAll checks every artifact, calling progress (from one goroutine at a
// time) as each finishes. Results are in the order of arts.
func (c *Checker) CheckAll(ctx context.Context, arts []lock.Artifact, progress func(done, total int, r Result)) []Result {
	results := make([]Result, len(arts))
	parallel := max(c.Parallel, 1)
	sem := make(chan struct{}, parallel)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for i, a := range arts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := c.Check(ctx, a)
			results[i] = r
			mu.Lock()
			done++
			if progress != nil {
				progress(done, len(arts), r)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// Check downloads one artifact and checks its digest and archive member.
func (c *Checker) Check(ctx context.Context, a lock.Artifact) Result {
	r := c.Fetch(ctx, a)
	if r.Err != nil || r.SHA256 == a.SHA256 {
		return r
	}
	r.Err = &lock.ChecksumError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Want: a.SHA256, Got: r.SHA256}
	return r
}

// Fetch downloads one artifact, computing its digest (whatever a.SHA256
// says) and checking that an archive holds its member.
func (c *Checker) Fetch(ctx context.Context, a lock.Artifact) Result {
	r := Result{Artifact: a}
	fail := func(err error) Result {
		r.Err = &lock.DownloadError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Err: err}
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return fail(err)
	}
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // drop Go's "Get URL:" prefix, the URL is already said
		}
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP %s", resp.Status))
	}
	h := sha256.New()
	var size byteCounter
	// One more byte than the cap, to tell a capped artifact from one that
	// is exactly MaxArtifactSize.
	body := io.TeeReader(io.LimitReader(resp.Body, MaxArtifactSize+1), io.MultiWriter(h, &size))
	found, memberErr := false, error(nil)
	if a.Member != "" {
		found, memberErr = hasMember(body, a.Member)
	}
	// Hash whatever the archive reader left unread.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fail(err)
	}
	r.Size = int64(size)
	if r.Size > MaxArtifactSize {
		return fail(fmt.Errorf("larger than %d MiB; ws does not download more for one tool", MaxArtifactSize>>20))
	}
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	if a.SHA256 != "" && r.SHA256 != a.SHA256 {
		return r // a wrong artifact's members are beside the point
	}
	if a.Member != "" && !found {
		r.Err = &lock.MemberError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Member: a.Member, Reason: memberErr}
	}
	return r
}

type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

var errNotArchive = errors.New("not a tar archive")

// hasMember scans a tar stream, plain or gzip/bzip2 compressed (what
// BuildKit unpacks too), for a regular file at member.
func hasMember(r io.Reader, member string) (bool, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(3)
	var tr *tar.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, err
		}
		tr = tar.NewReader(zr)
	case bytes.HasPrefix(magic, []byte("BZh")):
		tr = tar.NewReader(bzip2.NewReader(br))
	default:
		tr = tar.NewReader(br)
	}
	want := path.Clean(member)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, errNotArchive
		}
		if path.Clean(hdr.Name) == want && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeSymlink) {
			return true, nil
		}
	}
}
