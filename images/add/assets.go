package add

import (
	"path"
	"sort"
	"strings"

	"github.com/ws-tools/ws/images/lock"
)

// How release assets spell operating systems and architectures. The first
// word of each list is the canonical (Go) name; longer spellings are tried
// before their prefixes ("x86_64" before "x86", "arm64" before "arm").
var (
	osWords = [][]string{
		{"linux"},
		{"darwin", "macos", "osx", "mac"},
		{"windows", "win64", "win32", "win"},
		{"freebsd"}, {"openbsd"}, {"netbsd"}, {"solaris"}, {"illumos"}, {"android"}, {"aix"}, {"dragonfly"}, {"plan9"},
	}
	archWords = [][]string{
		{"amd64", "x86_64", "x86-64", "x64", "64bit", "64-bit"},
		{"arm64", "aarch64", "armv8", "arm64e"},
		{"arm", "armv7", "armv7l", "armhf", "armv6", "armv6l", "armel", "arm32"},
		{"386", "i386", "i686", "x86", "32bit", "32-bit"},
		{"ppc64le"}, {"ppc64"}, {"s390x"}, {"riscv64"}, {"mips64le"}, {"mips64"}, {"mipsle"}, {"mips"}, {"loong64"},
	}
)

// Files a release carries besides the tool itself.
var (
	sideSuffixes = []string{
		".sha256", ".sha256sum", ".sha512", ".sha512sum", ".sha1", ".md5", ".sum",
		".sig", ".asc", ".pem", ".crt", ".cert", ".sbom", ".spdx", ".spdx.json", ".cdx.json", ".bom.json",
		".intoto.jsonl", ".att", ".bundle", ".json", ".txt", ".yaml", ".yml", ".proof", ".pub", ".md",
	}
	packageSuffixes = []string{".deb", ".rpm", ".apk", ".msi", ".pkg", ".dmg", ".snap", ".flatpak", ".appimage", ".ipk", ".exe", ".vsix", ".whl"}
	archiveSuffixes = []string{".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".zip"}
	// What ws cannot unpack yet (nor BuildKit into a tool layer): left out.
	unsupportedSuffixes = []string{".tar.xz", ".txz", ".tar.zst", ".7z", ".gz", ".xz", ".bz2", ".zst"}
)

// asset is one release file as ws reads its name.
type asset struct {
	Name, URL, Digest string
	// OS and Arch are canonical ("" if the name says none); the spans are
	// where the name spells them, for the URL template.
	OS, Arch         string
	OSSpan, ArchSpan [2]int
	Archive          bool
	Musl             bool
	Skip             string // why it is no tool at all: "checksums", "package"…
}

func isSep(c byte) bool { return c == '-' || c == '_' || c == '.' || c == ' ' }

// classify reads an asset name; version is masked first so its digits are
// never taken for an architecture.
func classify(name, version string) asset {
	a := asset{Name: name, OSSpan: [2]int{-1, -1}, ArchSpan: [2]int{-1, -1}}
	lower := strings.ToLower(name)
	switch {
	case strings.Contains(lower, "checksum") || strings.Contains(lower, "sha256sums") || strings.Contains(lower, "sha512sums"):
		a.Skip = "checksums"
	case hasSuffix(lower, sideSuffixes):
		a.Skip = "signature, checksum or metadata"
	case hasSuffix(lower, packageSuffixes):
		a.Skip = "package or installer"
	case hasSuffix(lower, archiveSuffixes):
		a.Archive = true
	case hasSuffix(lower, unsupportedSuffixes):
		a.Skip = "compression ws cannot unpack"
	}
	masked := lower
	for _, v := range []string{version, strings.TrimPrefix(version, "v")} {
		if v != "" {
			masked = strings.ReplaceAll(masked, strings.ToLower(v), strings.Repeat("#", len(v)))
		}
	}
	for i := 0; i < len(masked); i++ {
		if i > 0 && !isSep(masked[i-1]) {
			continue
		}
		if w, canon, n := word(masked[i:], osWords); n > 0 && a.OS == "" {
			a.OS, a.OSSpan = canon, [2]int{i, i + n}
			_ = w
			i += n - 1
			continue
		}
		if _, canon, n := word(masked[i:], archWords); n > 0 && a.Arch == "" {
			a.Arch, a.ArchSpan = canon, [2]int{i, i + n}
			i += n - 1
			continue
		}
		if strings.HasPrefix(masked[i:], "musl") {
			a.Musl = true
		}
	}
	return a
}

// word finds the longest spelling in groups that s starts with, followed
// by a separator or the end; it returns the spelling, the group's
// canonical name and the length.
func word(s string, groups [][]string) (string, string, int) {
	best, canon := "", ""
	for _, g := range groups {
		for _, w := range g {
			if len(w) > len(best) && strings.HasPrefix(s, w) && (len(s) == len(w) || isSep(s[len(w)])) {
				best, canon = w, g[0]
			}
		}
	}
	return best, canon, len(best)
}

func hasSuffix(s string, suffixes []string) bool {
	for _, suf := range suffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// archRank orders an asset's spelling of p's architecture: 0 fits best.
// For 32-bit arm the variant decides (v7 wants armv7/armhf, v6 armv6/armel).
func fits(a asset, p lock.Platform) bool {
	if a.Skip != "" || a.OS != p.OS || a.Arch != p.Arch {
		return false
	}
	if p.Arch == "arm" && p.Variant != "" {
		spelled := strings.ToLower(a.Name[a.ArchSpan[0]:a.ArchSpan[1]])
		switch p.Variant {
		case "v7":
			return !strings.HasPrefix(spelled, "armv6") && spelled != "armel"
		case "v6":
			return strings.HasPrefix(spelled, "armv6") || spelled == "armel"
		}
	}
	return true
}

// candidates are the assets that fit p, best first: a raw binary before
// an archive, tar before zip, glibc (or neither) before musl; pattern, if
// set, is a glob the name must match.
func candidates(assets []asset, p lock.Platform, pattern string) []asset {
	var out []asset
	for _, a := range assets {
		if !fits(a, p) {
			continue
		}
		if pattern != "" {
			if ok, _ := path.Match(pattern, a.Name); !ok {
				continue
			}
		}
		out = append(out, a)
	}
	if pattern == "" {
		// musl and glibc twins: the glibc (or unmarked) one, unless asked.
		var plain []asset
		for _, a := range out {
			if !a.Musl {
				plain = append(plain, a)
			}
		}
		if len(plain) > 0 {
			out = plain
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func rank(a asset) int {
	switch {
	case !a.Archive:
		return 0
	case strings.HasSuffix(strings.ToLower(a.Name), ".zip"):
		return 2
	default:
		return 1
	}
}
