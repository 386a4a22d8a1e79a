package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	clicontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/store"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/go-connections/sockets"
)

// EnvContext selects a Docker context, as the Docker CLI reads it.
const EnvContext = "DOCKER_CONTEXT"

// defaultContext is the Docker CLI's context of DOCKER_HOST or the
// default socket.
const defaultContext = "default"

// Endpoint is the engine ws talks to, found the way the Docker CLI finds
// it, and why.
type Endpoint struct {
	// Context is the Docker context's name ("default": DOCKER_HOST or the
	// default socket).
	Context string
	// Host is the engine's address (unix://, tcp://, ssh://…); empty for
	// the default socket.
	Host string
	// Why says which setting chose it, for ws doctor.
	Why           string
	tls           *clicontext.TLSData
	skipTLSVerify bool
}

// Resolve finds the engine as the Docker CLI does: --context (flag), then
// DOCKER_HOST (the default context, with it), then DOCKER_CONTEXT, then
// config.json's currentContext, else the default context. A named context's
// endpoint and TLS material come from the CLI's own context store
// ($DOCKER_CONFIG/contexts).
func Resolve(flag string, getenv func(string) string) (Endpoint, error) {
	name, why := flag, "--context"
	switch {
	case name != "":
	case getenv(EnvHost) != "":
		return Endpoint{Context: defaultContext, Host: getenv(EnvHost), Why: EnvHost + " is set"}, nil
	case getenv(EnvContext) != "":
		name, why = getenv(EnvContext), EnvContext+" is set"
	default:
		cfg, err := config.Load(config.Dir())
		if err == nil && cfg.CurrentContext != "" {
			name, why = cfg.CurrentContext, "currentContext in "+config.Dir()+"/config.json"
		}
	}
	if name == "" || name == defaultContext {
		if why == "--context" && flag == "" {
			why = "no context chosen"
		}
		return Endpoint{Context: defaultContext, Host: getenv(EnvHost), Why: why}, nil
	}
	s := store.New(config.ContextStoreDir(), store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter("docker", func() any { return &clicontext.EndpointMetaBase{} }),
	))
	meta, err := s.GetMetadata(name)
	if err != nil {
		return Endpoint{}, &ContextError{Name: name, Why: why, Err: err}
	}
	ep, ok := meta.Endpoints["docker"].(clicontext.EndpointMetaBase)
	if !ok {
		if p, isPtr := meta.Endpoints["docker"].(*clicontext.EndpointMetaBase); isPtr && p != nil {
			ep, ok = *p, true
		}
	}
	if !ok || ep.Host == "" {
		return Endpoint{}, &ContextError{Name: name, Why: why, Err: errors.New("it has no docker endpoint")}
	}
	tlsData, err := clicontext.LoadTLSData(s, name, "docker")
	if err != nil {
		return Endpoint{}, &ContextError{Name: name, Why: why, Err: err}
	}
	return Endpoint{Context: name, Host: ep.Host, Why: why, tls: tlsData, skipTLSVerify: ep.SkipTLSVerify}, nil
}

// ContextError is a Docker context that cannot be used.
type ContextError struct {
	Name, Why string
	Err       error
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("Docker context %q (%s): %v", e.Name, e.Why, e.Err)
}

func (e *ContextError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *ContextError) Hint() string {
	return "docker context ls shows the contexts; docker context use default (or unset " + EnvContext + ") returns to the default engine"
}

// Client opens a client for the endpoint, speaking the newest API version
// both sides know. ssh:// goes through the Docker CLI's ssh helper.
func (ep Endpoint) Client() (*dockerclient.Client, error) {
	opts := []dockerclient.Opt{dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation()}
	if ep.Context == defaultContext && !strings.HasPrefix(ep.Host, "ssh://") {
		c, err := dockerclient.NewClientWithOpts(opts...)
		if err != nil {
			return nil, &DaemonError{Err: err}
		}
		return c, nil
	}
	helper, err := connhelper.GetConnectionHelper(ep.Host)
	if err != nil {
		return nil, &DaemonError{Err: err}
	}
	if helper != nil {
		opts = append(opts, dockerclient.WithHost(helper.Host), dockerclient.WithDialContext(helper.Dialer),
			dockerclient.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}))
	} else {
		tlsConfig, err := ep.tlsConfig()
		if err != nil {
			return nil, &DaemonError{Err: err}
		}
		opts = append(opts, dockerclient.WithHost(ep.Host))
		if tlsConfig != nil || strings.HasPrefix(ep.Host, "unix://") {
			tr := &http.Transport{TLSClientConfig: tlsConfig}
			if err := sockets.ConfigureTransport(tr, protoOf(ep.Host), addrOf(ep.Host)); err != nil {
				return nil, &DaemonError{Err: err}
			}
			opts = append(opts, dockerclient.WithHTTPClient(&http.Client{Transport: tr, Timeout: 0}))
		}
	}
	c, err := dockerclient.NewClientWithOpts(opts...)
	if err != nil {
		return nil, &DaemonError{Err: err}
	}
	return c, nil
}

func (ep Endpoint) tlsConfig() (*tls.Config, error) {
	if ep.tls == nil && !ep.skipTLSVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: ep.skipTLSVerify} //nolint:gosec // the user's context asked for it
	if ep.tls != nil && ep.tls.CA != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.tls.CA) {
			return nil, errors.New("the context's ca.pem is not a certificate")
		}
		cfg.RootCAs = pool
	}
	if ep.tls != nil && ep.tls.Cert != nil && ep.tls.Key != nil {
		cert, err := tls.X509KeyPair(ep.tls.Cert, ep.tls.Key)
		if err != nil {
			return nil, fmt.Errorf("the context's client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func protoOf(host string) string {
	proto, _, _ := strings.Cut(host, "://")
	return proto
}

func addrOf(host string) string {
	_, addr, _ := strings.Cut(host, "://")
	return addr
}
