package lock

import "regexp"

var digestRefRe = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// PinnedByDigest reports whether an image reference names its content
// (NAME[:TAG]@sha256:<64 lowercase hex>), the only way a base may be given
// unless the lock allows otherwise.
func PinnedByDigest(ref string) bool { return digestRefRe.MatchString(ref) }
