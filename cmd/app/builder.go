package app

import (
	"errors"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/images/build"
	"github.com/ws-tools/ws/images/credentials"
)

// Environment variables that choose the builder, read by ws build, and by
// ws exec, ws enter and ws doctor when they build or probe.
const (
	// EnvBuildKitHost names a standalone buildkitd, as buildctl reads it.
	EnvBuildKitHost = "BUILDKIT_HOST"
	// The TLS files of a tcp:// buildkitd, named after buildctl's flags
	// (buildctl itself reads no environment for them).
	EnvBuildKitTLSCACert     = "BUILDKIT_TLS_CACERT"
	EnvBuildKitTLSCert       = "BUILDKIT_TLS_CERT"
	EnvBuildKitTLSKey        = "BUILDKIT_TLS_KEY"
	EnvBuildKitTLSServerName = "BUILDKIT_TLS_SERVERNAME"
	EnvBuildKitTLSDir        = "BUILDKIT_TLS_DIR"
)

// builderOptions are --builder and buildctl's TLS flags.
type builderOptions struct {
	addr   string
	tls    build.TLS
	tlsDir string
}

func (o *builderOptions) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "builder", Usage: "BuildKit to build on: `ADDR` unix:///…, tcp://…, docker-container://NAME, kube-pod://POD?namespace=NS, or buildx:NAME; default: the Docker daemon's BuildKit", EnvVars: []string{EnvBuildKitHost}, Destination: &o.addr},
		&cli.StringFlag{Name: "tlscacert", Usage: "CA certificate `FILE` of a tcp:// builder", EnvVars: []string{EnvBuildKitTLSCACert}, Destination: &o.tls.CACert},
		&cli.StringFlag{Name: "tlscert", Usage: "client certificate `FILE` for a tcp:// builder", EnvVars: []string{EnvBuildKitTLSCert}, Destination: &o.tls.Cert},
		&cli.StringFlag{Name: "tlskey", Usage: "client key `FILE` for a tcp:// builder", EnvVars: []string{EnvBuildKitTLSKey}, Destination: &o.tls.Key},
		&cli.StringFlag{Name: "tlsservername", Usage: "server `NAME` in a tcp:// builder's certificate", EnvVars: []string{EnvBuildKitTLSServerName}, Destination: &o.tls.ServerName},
		&cli.StringFlag{Name: "tlsdir", Usage: "`DIR` with ca.pem, cert.pem, key.pem (or ca.crt, tls.crt, tls.key) of a tcp:// builder", EnvVars: []string{EnvBuildKitTLSDir}, Destination: &o.tlsDir},
	}
}

// builderFromEnv is what ws exec, enter and doctor use: the same variables
// ws build's flags read.
func builderFromEnv(getenv func(string) string) builderOptions {
	return builderOptions{
		addr: getenv(EnvBuildKitHost),
		tls: build.TLS{
			CACert: getenv(EnvBuildKitTLSCACert), Cert: getenv(EnvBuildKitTLSCert),
			Key: getenv(EnvBuildKitTLSKey), ServerName: getenv(EnvBuildKitTLSServerName),
		},
		tlsDir: getenv(EnvBuildKitTLSDir),
	}
}

// target resolves the options into the builder to use. A docker-container
// builder is reached with the Docker CLI (docker exec), which does not know
// ws's --context: it is passed on in the address.
func (e *Env) target(o builderOptions) (build.Target, error) {
	tls := o.tls
	if o.tlsDir != "" {
		if tls != (build.TLS{ServerName: tls.ServerName}) {
			return build.Target{}, withHint(errors.New("--tlsdir and --tlscacert/--tlscert/--tlskey exclude each other"), "give either the directory or the files")
		}
		d, err := build.TLSDir(o.tlsDir)
		if err != nil {
			return build.Target{}, withHint(err, "see ws build --help")
		}
		d.ServerName = tls.ServerName
		tls = d
	}
	t, err := build.ParseTarget(o.addr, tls)
	if err != nil {
		return t, err
	}
	if e.Context != "" && strings.HasPrefix(t.Addr, "docker-container://") {
		if u, err := url.Parse(t.Addr); err == nil && u.Query().Get("context") == "" {
			q := u.Query()
			q.Set("context", e.Context)
			u.RawQuery = q.Encode()
			t.Addr = u.String()
		}
	}
	return t, nil
}

// imageBuilder is a builder into the engine, with the Docker CLI's
// registry logins.
func (e *Env) imageBuilder() (*build.Builder, error) {
	docker, err := e.Docker()
	if err != nil {
		return nil, err
	}
	creds, err := credentials.Load()
	if err != nil {
		return nil, withHint(err, "fix or move config.json in DOCKER_CONFIG or ~/.docker")
	}
	return &build.Builder{Engine: docker, Credentials: creds}, nil
}
