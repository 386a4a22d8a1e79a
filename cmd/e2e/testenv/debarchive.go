package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// DebArchive is a Debian archive made the way Debian makes one: real .debs
// in a pool, Packages indexes and Release written by apt-ftparchive
// (apt-utils), and InRelease clearsigned with a throwaway key. It is served
// the way snapshot.debian.org serves: URL/<timestamp>/ answers with the
// newest state published at or before that time. The server listens on the
// Docker bridge's gateway, so a build step reaches it as the host's ws does.
type DebArchive struct {
	URL    string // http://GATEWAY:PORT/archive/debian
	signer *openpgp.Entity
	dir    string
	srv    *http.Server

	mu     sync.Mutex
	states map[string]string // timestamp (20261101T000000Z) → its directory
	// Requests counts what the archive was asked.
	Requests atomic.Int64
}

// DebSuite is the suite a DebArchive publishes, with component main.
const DebSuite = "bookworm"

// StartDebArchive serves an empty archive signed by signer from dir.
func StartDebArchive(ctx context.Context, dir string, signer *openpgp.Entity) (*DebArchive, error) {
	if _, err := exec.LookPath("apt-ftparchive"); err != nil {
		return nil, fmt.Errorf("the test apt archive needs apt-ftparchive (apt-get install apt-utils)")
	}
	gw, err := BridgeGateway(ctx)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen on the Docker bridge's gateway: %w", err)
	}
	a := &DebArchive{URL: "http://" + ln.Addr().String() + "/archive/debian", signer: signer, dir: dir, states: map[string]string{}}
	a.srv = &http.Server{Handler: http.StripPrefix("/archive/debian/", http.HandlerFunc(a.serve))}
	go a.srv.Serve(ln)
	return a, nil
}

// Close stops serving.
func (a *DebArchive) Close() { a.srv.Close() }

// serve answers TIMESTAMP/PATH from the newest state at or before TIMESTAMP.
func (a *DebArchive) serve(w http.ResponseWriter, r *http.Request) {
	a.Requests.Add(1)
	at, rest, _ := strings.Cut(r.URL.Path, "/")
	a.mu.Lock()
	var best string
	for t := range a.states {
		if t <= at && t > best {
			best = t
		}
	}
	root := a.states[best]
	a.mu.Unlock()
	if root == "" || strings.Contains(rest, "..") {
		http.NotFound(w, r)
		return
	}
	http.ServeFile(w, r, filepath.Join(root, filepath.FromSlash(rest)))
}

// Publish makes the archive's state at timestamp (20261101T000000Z) hold
// debs, replacing what that timestamp held, and returns its snapshot URL.
func (a *DebArchive) Publish(ctx context.Context, timestamp string, debs ...string) (string, error) {
	return a.PublishEdited(ctx, timestamp, nil, debs...)
}

// PublishEdited is Publish with each Packages index passed through edit
// before Release lists it and InRelease is signed: an archive whose own key
// vouches for whatever edit wrote.
func (a *DebArchive) PublishEdited(ctx context.Context, timestamp string, edit func([]byte) []byte, debs ...string) (string, error) {
	root, err := os.MkdirTemp(a.dir, "state-"+timestamp+"-")
	if err != nil {
		return "", err
	}
	pool := filepath.Join(root, "pool", "main")
	if err := os.MkdirAll(pool, 0o755); err != nil {
		return "", err
	}
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(pool, filepath.Base(d)), b, 0o644); err != nil {
			return "", err
		}
	}
	dists := filepath.Join(root, "dists", DebSuite)
	for _, arch := range []string{"amd64", "arm64"} {
		index, err := ftparchive(ctx, root, "--arch", arch, "packages", "pool/main")
		if err != nil {
			return "", err
		}
		if edit != nil {
			index = edit(index)
		}
		dir := filepath.Join(dists, "main", "binary-"+arch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "Packages"), index, 0o644); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "Packages.gz"), Gzip(index), 0o644); err != nil {
			return "", err
		}
	}
	release, err := ftparchive(ctx, dists,
		"-o", "APT::FTPArchive::Release::Origin=Debian",
		"-o", "APT::FTPArchive::Release::Suite=stable",
		"-o", "APT::FTPArchive::Release::Codename="+DebSuite,
		"-o", "APT::FTPArchive::Release::Architectures=amd64 arm64",
		"-o", "APT::FTPArchive::Release::Components=main",
		"release", ".")
	if err != nil {
		return "", err
	}
	var signed bytes.Buffer
	pt, err := clearsign.Encode(&signed, a.signer.PrivateKey, nil)
	if err != nil {
		return "", err
	}
	pt.Write(release)
	if err := pt.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dists, "InRelease"), signed.Bytes(), 0o644); err != nil {
		return "", err
	}
	a.mu.Lock()
	a.states[timestamp] = root
	a.mu.Unlock()
	return a.URL + "/" + timestamp, nil
}

// Tamper rewrites one published file after signing, as a hostile mirror
// would, and returns a function that puts it back.
func (a *DebArchive) Tamper(timestamp, path string, edit func([]byte) []byte) (func(), error) {
	a.mu.Lock()
	root := a.states[timestamp]
	a.mu.Unlock()
	file := filepath.Join(root, filepath.FromSlash(path))
	orig, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, edit(orig), 0o644); err != nil {
		return nil, err
	}
	return func() { os.WriteFile(file, orig, 0o644) }, nil
}

func ftparchive(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "apt-ftparchive", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("apt-ftparchive %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// BridgeGateway is the host's address on Docker's default bridge, which
// build steps and containers reach.
func BridgeGateway(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output()
	if err != nil {
		return "", fmt.Errorf("docker network inspect bridge: %w", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if ip := net.ParseIP(f); ip != nil && ip.To4() != nil {
			return f, nil
		}
	}
	return "", fmt.Errorf("Docker's bridge network has no IPv4 gateway (%q)", out)
}

// DebianDebs downloads pkgs' .debs from this machine's apt sources (once;
// cached under cacheDir) and returns their paths, in pkgs' order. A
// package is NAME for this machine's architecture (or all), or NAME:ARCH
// for another, fetched from the same mirror's pool.
func DebianDebs(ctx context.Context, cacheDir string, pkgs ...string) ([]string, error) {
	dir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	var paths []string
	for _, p := range pkgs {
		name, arch, foreign := strings.Cut(p, ":")
		if !foreign {
			arch = runtimeDebArch()
		}
		// One file for the architecture, or one for every architecture.
		cached := func() []string {
			have, _ := filepath.Glob(filepath.Join(dir, name+"_*_"+arch+".deb"))
			all, _ := filepath.Glob(filepath.Join(dir, name+"_*_all.deb"))
			return append(have, all...)
		}
		have := cached()
		if len(have) == 0 {
			var err error
			if foreign {
				err = poolDownload(ctx, name, arch, dir)
			} else {
				err = aptDownload(ctx, name, dir)
			}
			if err != nil {
				return nil, err
			}
			have = cached()
		}
		if len(have) != 1 {
			return nil, fmt.Errorf("%s: want one .deb of %s, have %v", dir, p, have)
		}
		paths = append(paths, have[0])
	}
	return paths, nil
}

func runtimeDebArch() string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// poolDownload fetches name's .deb for another architecture from the pool
// of this machine's Debian mirror: the file beside the native one.
func poolDownload(ctx context.Context, name, arch, dir string) error {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", name).Output()
	if err != nil {
		return fmt.Errorf("apt-cache show %s: %w", name, err)
	}
	var filename string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Filename: "); ok {
			filename = v
		}
	}
	native := "_" + runtimeDebArch() + ".deb"
	if !strings.HasSuffix(filename, native) {
		return fmt.Errorf("apt-cache show %s: no %s file to find the %s one beside (%q)", name, native, arch, filename)
	}
	u := strings.TrimSuffix(DebianMirror(), "/") + "/" + strings.TrimSuffix(filename, native) + "_" + arch + ".deb"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, path.Base(u)), b, 0o644)
}

// RepackDeb writes deb again under another version into dir, and returns
// its path: the same files, a new version, as the archive's next upload of
// that package would be.
func RepackDeb(ctx context.Context, deb, version, dir string) (string, error) {
	tree, err := os.MkdirTemp("", "ws-repack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tree)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-R", deb, tree).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -R %s: %w\n%s", deb, err, out)
	}
	control := filepath.Join(tree, "DEBIAN", "control")
	text, err := os.ReadFile(control)
	if err != nil {
		return "", err
	}
	var name, arch string
	lines := strings.Split(string(text), "\n")
	for i, l := range lines {
		switch k, v, _ := strings.Cut(l, ": "); k {
		case "Package":
			name = v
		case "Architecture":
			arch = v
		case "Version":
			lines[i] = "Version: " + version
		}
	}
	if err := os.WriteFile(control, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", name, strings.ReplaceAll(version, ":", "%3a"), arch))
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-b", tree, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -b: %w\n%s", err, b)
	}
	return out, nil
}

// DebVersion is the Version field of a .deb.
func DebVersion(ctx context.Context, deb string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb -f %s Version: %w", deb, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// aptDownload fetches pkg's .deb into dir with apt-get download, updating
// the package lists first on a machine that never did.
func aptDownload(ctx context.Context, pkg, dir string) error {
	tmp, err := os.MkdirTemp("", "ws-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) // apt's sandbox user writes the .deb here
	download := func() error {
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get download %s: %w\n%s", pkg, err, tail(out, 10))
		}
		return nil
	}
	if err := download(); err != nil {
		if out, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			return fmt.Errorf("%w; apt-get update: %v\n%s", err, uerr, tail(out, 10))
		}
		if err := download(); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	sort.Strings(debs)
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d .deb files", pkg, len(debs))
	}
	b, err := os.ReadFile(debs[0])
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, filepath.Base(debs[0])), b, 0o644)
}
