package lock

import "fmt"

// The errors of one artifact: fetch reports them for downloads it makes,
// build for downloads BuildKit made. They live with the Artifact they name.

// ChecksumError is an artifact whose bytes do not hash to its pin.
type ChecksumError struct {
	Tool      string
	Platform  Platform
	URL       string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s (%s) from %s: tools.lock pins sha256:%s, download is sha256:%s",
		e.Tool, e.Platform, e.URL, e.Want, e.Got)
}

// Hint says what to do about it.
func (e *ChecksumError) Hint() string {
	return "the artifact changed upstream or in transit; do not just copy the new digest: confirm it from a second source, or move the pin with `ws lock bump " + e.Tool + "`"
}

// MemberError is an archive that does not hold the file to install.
type MemberError struct {
	Tool     string
	Platform Platform
	URL      string
	Member   string
	// Reason is set when the artifact could not be read as an archive.
	Reason error
}

func (e *MemberError) Error() string {
	if e.Reason != nil {
		return fmt.Sprintf("%s (%s): %s should be an archive holding %q, but it cannot be read: %v", e.Tool, e.Platform, e.URL, e.Member, e.Reason)
	}
	return fmt.Sprintf("%s (%s): archive %s has no member %q", e.Tool, e.Platform, e.URL, e.Member)
}

// Hint says what to do about it.
func (e *MemberError) Hint() string {
	return "fix the tool's extract path in tools.lock (list the archive with `tar tzf`)"
}

// DownloadError is an artifact that could not be downloaded at all.
type DownloadError struct {
	Tool     string
	Platform Platform
	URL      string
	Err      error
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("download %s (%s) from %s: %v", e.Tool, e.Platform, e.URL, e.Err)
}

func (e *DownloadError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *DownloadError) Hint() string {
	return "check the network and the tool's url in tools.lock; `ws lock list` shows the pins"
}
