package lock

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Reach is everything in a lock that can reach the host: what a user
// consents to when they trust a workspace (ws trust). Versions and
// checksums are not in it, so bumping a pin on the same download hosts
// needs no new consent; a new mount, variable, secret, image or host does.
type Reach struct {
	Mounts      []string `json:"mounts,omitempty"`
	Env         []string `json:"env,omitempty"`
	Network     string   `json:"network,omitempty"`
	Secrets     []string `json:"secrets"`
	GitWritable bool     `json:"git_writable,omitempty"`
	GPGSign     bool     `json:"gpg_sign,omitempty"`
	// Image is the shared image repository ws pulls from.
	Image string `json:"image,omitempty"`
	// BaseRepository is the base image without tag or digest.
	BaseRepository string `json:"base_repository"`
	// Hosts are the hosts tools and checksum files download from.
	Hosts []string `json:"download_hosts"`
}

// Reach summarises what the lock can reach on the host.
func (l *Lock) Reach() Reach {
	w := l.Workspace
	r := Reach{
		Mounts:         slices.Clone(w.Mounts),
		Env:            slices.Clone(w.Env),
		Network:        w.Network,
		GitWritable:    w.GitWritable,
		GPGSign:        w.GPGSign,
		Image:          l.Image,
		BaseRepository: Repository(l.Base.Image),
	}
	for _, s := range w.SecretFiles() {
		r.Secrets = append(r.Secrets, fmt.Sprintf("%s as %s (%s)", s.File, s.Env, s.Name))
	}
	hosts := map[string]bool{}
	if s := l.Base.Snapshot; s != nil {
		if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
			hosts[u.Scheme+"://"+u.Host] = true // the build's apt fetches from it
		}
	}
	for _, t := range l.Tools {
		templates := []string{t.URL}
		if t.Checksums != nil {
			templates = append(templates, t.Checksums.URL, t.Checksums.Signature)
		}
		for _, p := range l.Platforms {
			for _, tmpl := range templates {
				if u, err := render(tmpl, t.Version, p); err == nil {
					if pu, err := url.Parse(u); err == nil && pu.Host != "" {
						hosts[pu.Scheme+"://"+pu.Host] = true
					}
				}
			}
		}
	}
	for h := range hosts {
		r.Hosts = append(r.Hosts, h)
	}
	sort.Strings(r.Hosts)
	return r
}

// ReachesBeyondDownloads reports whether the lock asks for more than its
// base image and tool downloads: a shared image or a workspace section.
// Only such a lock needs consent to be built.
func (l *Lock) ReachesBeyondDownloads() bool {
	w := l.Workspace
	return l.Image != "" || len(w.Env) > 0 || len(w.Mounts) > 0 || w.Network != "" || w.Secrets != nil || w.GitWritable || w.GPGSign
}

// Repository is an image reference without its tag and digest.
func Repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Equal reports whether two reaches ask for the same.
func (r Reach) Equal(o Reach) bool { return len(r.Diff(o)) == 0 }

// Diff lists, one line each, what r asks for that was (o) not asked, and
// what it no longer asks: "+ mount …", "- env …", "network: bridge → host".
func (r Reach) Diff(o Reach) []string {
	var out []string
	list := func(what string, now, before []string) {
		for _, x := range now {
			if !slices.Contains(before, x) {
				out = append(out, "+ "+what+" "+x)
			}
		}
		for _, x := range before {
			if !slices.Contains(now, x) {
				out = append(out, "- "+what+" "+x)
			}
		}
	}
	scalar := func(what, now, before string) {
		if now != before {
			out = append(out, fmt.Sprintf("%s: %s → %s", what, orNone(before), orNone(now)))
		}
	}
	list("mount", r.Mounts, o.Mounts)
	list("env", r.Env, o.Env)
	scalar("network", r.Network, o.Network)
	list("secret", r.Secrets, o.Secrets)
	scalar("git writable", fmt.Sprint(r.GitWritable), fmt.Sprint(o.GitWritable))
	scalar("gpg signing", fmt.Sprint(r.GPGSign), fmt.Sprint(o.GPGSign))
	scalar("shared image", r.Image, o.Image)
	scalar("base image repository", r.BaseRepository, o.BaseRepository)
	list("download host", r.Hosts, o.Hosts)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// HostRoot says why a mount source gives the container root on the host,
// or "" when it does not: the Docker socket, /, and the places that hold
// the host's credentials and configuration.
func HostRoot(source string) string {
	clean := filepath.Clean(source)
	switch {
	case clean == "/":
		return "the host's whole file system"
	case strings.HasSuffix(clean, "docker.sock") || strings.HasSuffix(clean, "containerd.sock") || strings.HasSuffix(clean, "podman.sock"):
		return "the container engine's socket, which is root on the host"
	}
	for _, dir := range []string{"/etc", "/root", "/var/lib/docker", "/proc", "/sys", "/dev", "/boot", "/usr", "/bin", "/sbin", "/lib"} {
		if clean == dir || strings.HasPrefix(clean, dir+"/") {
			return "a system directory of the host (" + dir + ")"
		}
	}
	return ""
}
