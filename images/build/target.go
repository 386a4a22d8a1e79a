package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	bkclient "github.com/moby/buildkit/client"

	// BuildKit's own connection helpers, registered for bkclient.New:
	// docker-container://NAME (docker exec … buildctl dial-stdio) and
	// kube-pod://POD?namespace=NS (kubectl exec …), as buildctl takes them.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
)

// Target is the BuildKit a build runs on.
type Target struct {
	// Addr is where buildkitd listens: unix://…, tcp://…,
	// docker-container://NAME, kube-pod://POD?namespace=NS. Empty means the
	// Docker engine's embedded BuildKit.
	Addr string
	// TLS is the mutual TLS of a tcp:// buildkitd, as buildctl's flags.
	TLS TLS
	// From says where Addr came from, for messages ("buildx builder ci").
	From string
}

// TLS names the files of a mutual-TLS connection to buildkitd.
type TLS struct {
	CACert, Cert, Key, ServerName string
}

// Engine reports whether t is the Docker engine's own BuildKit.
func (t Target) Engine() bool { return t.Addr == "" }

// String names the builder for messages.
func (t Target) String() string {
	switch {
	case t.Engine():
		return "the Docker daemon's BuildKit"
	case t.From != "":
		return t.From + " at " + t.Addr
	}
	return "buildkitd at " + t.Addr
}

// clientOpts are the BuildKit client options t's TLS asks for.
func (t Target) clientOpts() []bkclient.ClientOpt {
	var opts []bkclient.ClientOpt
	if t.TLS.CACert != "" || t.TLS.ServerName != "" {
		if t.TLS.CACert != "" {
			opts = append(opts, bkclient.WithServerConfig(t.TLS.ServerName, t.TLS.CACert))
		} else {
			opts = append(opts, bkclient.WithServerConfigSystem(t.TLS.ServerName))
		}
	}
	if t.TLS.Cert != "" || t.TLS.Key != "" {
		opts = append(opts, bkclient.WithCredentials(t.TLS.Cert, t.TLS.Key))
	}
	return opts
}

// TLSDir fills the TLS files from a directory, as buildctl's --tlsdir:
// ca.pem, cert.pem, key.pem, or Kubernetes' ca.crt, tls.crt, tls.key.
func TLSDir(dir string) (TLS, error) {
	for _, names := range [][3]string{{"ca.pem", "cert.pem", "key.pem"}, {"ca.crt", "tls.crt", "tls.key"}} {
		t := TLS{CACert: filepath.Join(dir, names[0]), Cert: filepath.Join(dir, names[1]), Key: filepath.Join(dir, names[2])}
		if _, err := os.Stat(t.CACert); err == nil {
			return t, nil
		}
	}
	return TLS{}, fmt.Errorf("TLS directory %s has neither ca.pem, cert.pem, key.pem nor ca.crt, tls.crt, tls.key", dir)
}

// BuildxPrefix selects a buildx builder by name: --builder buildx:NAME.
const BuildxPrefix = "buildx:"

// ParseTarget turns --builder (or BUILDKIT_HOST) and the TLS flags into a
// Target. buildx:NAME is looked up in buildx's store beside the Docker
// CLI's config.json.
func ParseTarget(addr string, tls TLS) (Target, error) {
	if name, ok := strings.CutPrefix(addr, BuildxPrefix); ok {
		return buildxTarget(config.Dir(), name)
	}
	if addr == "" {
		return Target{}, nil
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" {
		return Target{}, &TargetError{Addr: addr, Reason: "is not a BuildKit address"}
	}
	switch u.Scheme {
	case "unix", "tcp", "docker-container", "kube-pod", "ssh", "podman-container", "nerdctl-container":
	default:
		return Target{}, &TargetError{Addr: addr, Reason: "has a scheme BuildKit does not dial (" + u.Scheme + "://)"}
	}
	if tls != (TLS{}) && u.Scheme != "tcp" {
		return Target{}, &TargetError{Addr: addr, Reason: "takes no TLS files: only tcp:// buildkitd speaks TLS"}
	}
	return Target{Addr: addr, TLS: tls}, nil
}

// buildxNode is the part of a buildx builder's store entry
// ($DOCKER_CONFIG/buildx/instances/NAME) ws reads. buildx's own store
// package would pull in buildx; the format has been stable since v0.3.
type buildxNode struct {
	Name       string
	Endpoint   string
	DriverOpts map[string]string
}

type buildxGroup struct {
	Name   string
	Driver string
	Nodes  []buildxNode
}

// buildxContainerPrefix is how the docker-container driver names a node's
// container.
const buildxContainerPrefix = "buildx_buildkit_"

func buildxTarget(dockerConfigDir, name string) (Target, error) {
	from := "buildx builder " + name
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return Target{}, &TargetError{Addr: BuildxPrefix + name, Reason: "needs a builder name (docker buildx ls lists them)"}
	}
	data, err := os.ReadFile(filepath.Join(dockerConfigDir, "buildx", "instances", name))
	if errors.Is(err, os.ErrNotExist) {
		if name == "default" {
			return Target{From: from}, nil // buildx's default builder is the engine's own
		}
		return Target{}, &TargetError{Addr: BuildxPrefix + name, Reason: "is not a buildx builder here (docker buildx ls lists them)"}
	}
	if err != nil {
		return Target{}, err
	}
	var g buildxGroup
	if err := json.Unmarshal(data, &g); err != nil {
		return Target{}, &TargetError{Addr: BuildxPrefix + name, Reason: "has a store entry ws cannot read: " + err.Error()}
	}
	if len(g.Nodes) == 0 {
		return Target{}, &TargetError{Addr: BuildxPrefix + name, Reason: "has no nodes"}
	}
	// A builder with several nodes spreads platforms over them; ws builds
	// one platform, and the first node is the one buildx appended first.
	n := g.Nodes[0]
	switch g.Driver {
	case "docker":
		return Target{From: from}, nil
	case "docker-container":
		addr := "docker-container://" + buildxContainerPrefix + n.Name
		if n.Endpoint != "" && !strings.Contains(n.Endpoint, "://") && n.Endpoint != "default" {
			addr += "?context=" + url.QueryEscape(n.Endpoint) // a node on another Docker context
		}
		return Target{Addr: addr, From: from}, nil
	case "remote":
		t := Target{Addr: n.Endpoint, From: from, TLS: TLS{
			CACert: n.DriverOpts["cacert"], Cert: n.DriverOpts["cert"], Key: n.DriverOpts["key"], ServerName: n.DriverOpts["servername"],
		}}
		return t, nil
	case "kubernetes":
		ns := n.DriverOpts["namespace"]
		if ns == "" {
			ns = "default"
		}
		return Target{}, &TargetError{Addr: BuildxPrefix + name,
			Reason: fmt.Sprintf("runs BuildKit pods of deployment %s in namespace %s, which buildx names at build time: pass one pod as kube-pod://POD?namespace=%s", n.Name, ns, ns)}
	}
	return Target{}, &TargetError{Addr: BuildxPrefix + name, Reason: "uses buildx driver " + g.Driver + ", which ws does not know"}
}

// TargetError is a --builder ws cannot use.
type TargetError struct{ Addr, Reason string }

func (e *TargetError) Error() string { return fmt.Sprintf("--builder %s %s", e.Addr, e.Reason) }

// Hint says what to do about it.
func (e *TargetError) Hint() string {
	return "use unix:///…, tcp://… (with --tlscacert/--tlscert/--tlskey), docker-container://NAME, kube-pod://POD?namespace=NS or buildx:NAME; unset BUILDKIT_HOST for the Docker daemon's BuildKit"
}
