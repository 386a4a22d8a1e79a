// Package fetch downloads tool artifacts and checks them against their pins:
// the sha256 of the bytes and, for archives, the member to install. It is
// what `ws lock verify` and `ws lock bump` trust; it never writes a file.
package fetch

import (
	"archive/tar"
	"archive/zip"
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
	"os"
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
	// Entries are the files of an archive (nil for a raw binary).
	Entries []Entry
	Err     error
}

// Entry is one file in an archive.
type Entry struct {
	Name string
	// Executable: a regular file with an execute bit (or a symlink).
	Executable bool
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
	entries, listErr := listEntries(body)
	// Hash whatever the archive reader left unread.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fail(err)
	}
	r.Size = int64(size)
	if r.Size > MaxArtifactSize {
		return fail(fmt.Errorf("larger than %d MiB; ws does not download more for one tool", MaxArtifactSize>>20))
	}
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	r.Entries = entries
	if a.SHA256 != "" && r.SHA256 != a.SHA256 {
		return r // a wrong artifact's members are beside the point
	}
	if a.Member != "" && !hasEntry(entries, a.Member) {
		if listErr == nil && entries == nil {
			listErr = errNotArchive
		}
		r.Err = &lock.MemberError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Member: a.Member, Reason: listErr}
	}
	return r
}

type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

var errNotArchive = errors.New("not a tar or zip archive")

func hasEntry(entries []Entry, member string) bool {
	want := path.Clean(member)
	for _, e := range entries {
		if path.Clean(e.Name) == want {
			return true
		}
	}
	return false
}

// listEntries lists the regular files (and symlinks) of a tar stream,
// plain or gzip/bzip2 compressed (what BuildKit unpacks too), or of a zip.
// Anything else is a raw file: no entries, no error.
func listEntries(r io.Reader) ([]Entry, error) {
	br := bufio.NewReaderSize(r, 1024)
	magic, _ := br.Peek(512)
	var tr *tar.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		tr = tar.NewReader(zr)
	case bytes.HasPrefix(magic, []byte("BZh")):
		tr = tar.NewReader(bzip2.NewReader(br))
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")):
		return zipEntries(br)
	case len(magic) > 262 && string(magic[257:262]) == "ustar":
		tr = tar.NewReader(br)
	default:
		return nil, nil
	}
	var out []Entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, errNotArchive
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeSymlink:
			out = append(out, Entry{Name: path.Clean(hdr.Name), Executable: hdr.Typeflag == tar.TypeSymlink || hdr.Mode&0o111 != 0})
		}
	}
}

// zipEntries reads a zip, which needs random access, into memory (the
// download is capped already).
func zipEntries(r io.Reader) ([]Entry, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, errNotArchive
	}
	var out []Entry
	for _, f := range zr.File {
		mode := f.Mode()
		if mode.IsRegular() || mode&os.ModeSymlink != 0 {
			// Zips made on Windows carry no Unix modes: a file there is
			// as executable as it gets.
			exec := mode&0o111 != 0 || f.CreatorVersion>>8 == 0
			out = append(out, Entry{Name: path.Clean(f.Name), Executable: exec})
		}
	}
	return out, nil
}

// Small downloads a small file (an index, a checksum file, a signature)
// whole, refusing one larger than limit bytes.
func Small(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return data, nil
}
