package lock

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platform is an os/arch[/variant] pair as BuildKit and Docker name them.
type Platform struct {
	OS, Arch, Variant string
}

var platformPartRe = regexp.MustCompile(`^[a-z0-9_]+$`)

// ParsePlatform reads "linux/amd64" or "linux/arm/v7".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, fmt.Errorf("platform %q: want os/arch", s)
	}
	for _, part := range parts {
		if !platformPartRe.MatchString(part) {
			return Platform{}, fmt.Errorf("platform %q: want os/arch", s)
		}
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// OCI is the platform as image indexes and BuildKit spell it.
func (p Platform) OCI() ocispecs.Platform {
	return ocispecs.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant}
}

// HostPlatform is the platform ws itself runs on, the default build target.
func HostPlatform() Platform {
	return Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// MarshalText writes the platform as os/arch[/variant], in JSON too.
func (p Platform) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads os/arch[/variant].
func (p *Platform) UnmarshalText(b []byte) error {
	parsed, err := ParsePlatform(string(b))
	if err != nil {
		return err
	}
	*p = parsed
	return nil
}

func (p Platform) String() string {
	if p.Variant != "" {
		return p.OS + "/" + p.Arch + "/" + p.Variant
	}
	return p.OS + "/" + p.Arch
}
