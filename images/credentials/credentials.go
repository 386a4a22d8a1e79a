// Package credentials finds registry logins where the Docker CLI keeps
// them: config.json in DOCKER_CONFIG (or ~/.docker), its auths, credsStore
// and credHelpers (docker-credential-* programs on PATH), through the
// Docker CLI's own config package. It hands them out in the three shapes
// ws needs: the Engine API's X-Registry-Auth header (pull, push), a
// BuildKit session attachable (base-image pulls by any builder), and a
// plain login for ws's own manifest requests (ws lock bump base).
//
// A login never leaves these values: nothing here logs or formats one.
package credentials

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/registry"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
)

// dockerHubKey is the config.json key the Docker CLI files Docker Hub under.
const dockerHubKey = "https://index.docker.io/v1/"

// Store is the Docker CLI's configuration, read once.
type Store struct{ cfg *configfile.ConfigFile }

// Load reads config.json from DOCKER_CONFIG or ~/.docker. A missing file is
// an empty store (every registry anonymous), as for the Docker CLI.
func Load() (*Store, error) { return LoadDir(config.Dir()) }

// LoadDir reads config.json from dir.
func LoadDir(dir string) (*Store, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read the Docker CLI's config.json: %w", err)
	}
	return &Store{cfg: cfg}, nil
}

// Anonymous is a store with no logins, for callers that have none to give.
func Anonymous() *Store { return &Store{cfg: configfile.New("")} }

// Login is what config.json or its credential helper holds for one
// registry; the zero value means anonymous.
type Login struct {
	Username, Password string
	// IdentityToken is an OAuth refresh token (`docker login` to some
	// registries stores one instead of a password).
	IdentityToken string
	// RegistryToken is a bearer token to send as it is.
	RegistryToken string
}

// Anonymous reports whether l holds nothing to send.
func (l Login) Anonymous() bool {
	return l.Username == "" && l.Password == "" && l.IdentityToken == "" && l.RegistryToken == ""
}

// For returns the login for a registry host ("ghcr.io", "127.0.0.1:5000";
// "docker.io" and Docker Hub's registry host mean Docker Hub).
func (s *Store) For(host string) (Login, error) {
	ac, err := s.cfg.GetAuthConfig(configKey(host))
	if err != nil {
		return Login{}, &HelperError{Registry: host, Helper: helperFor(s.cfg, configKey(host)), Err: err}
	}
	return Login{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}, nil
}

// Header is the Engine API's X-Registry-Auth value for pulling or pushing
// ref. dockerd wants one even for anonymous pushes: "{}" then.
func (s *Store) Header(ref string) (string, error) {
	host, err := Host(ref)
	if err != nil {
		return "", err
	}
	l, err := s.For(host)
	if err != nil {
		return "", err
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username: l.Username, Password: l.Password,
		IdentityToken: l.IdentityToken, RegistryToken: l.RegistryToken,
		ServerAddress: configKey(host),
	})
}

// Session is the BuildKit session attachable that answers a builder's
// requests for registry tokens, so a base image in a private registry pulls
// on dockerd's BuildKit and on a standalone buildkitd alike. The builder
// asks; the login stays in this process.
func (s *Store) Session() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(s.cfg),
	})
}

// Host is the registry host of an image reference, as `docker pull` reads
// it ("alpine" is docker.io).
func Host(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return reference.Domain(named), nil
}

func configKey(host string) string {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubKey
	}
	return host
}

// helperFor names the credential helper config.json sends host to, or "".
func helperFor(cfg *configfile.ConfigFile, key string) string {
	if h := cfg.CredentialHelpers[key]; h != "" {
		return "docker-credential-" + h
	}
	if cfg.CredentialsStore != "" {
		return "docker-credential-" + cfg.CredentialsStore
	}
	return ""
}

// HelperError is a credential helper that failed to answer.
type HelperError struct {
	Registry, Helper string
	Err              error
}

func (e *HelperError) Error() string {
	if e.Helper == "" {
		return fmt.Sprintf("credentials for %s: %v", e.Registry, e.Err)
	}
	return fmt.Sprintf("credentials for %s: %s: %v", e.Registry, e.Helper, firstLine(e.Err.Error()))
}

func (e *HelperError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *HelperError) Hint() string {
	if e.Helper != "" {
		return fmt.Sprintf("check that %s is on PATH and works (`docker login %s` uses it too)", e.Helper, e.Registry)
	}
	return "check config.json in DOCKER_CONFIG or ~/.docker"
}

// LoginError is a registry that refused ws (or the builder ws drives) for
// want of a login: none was found, or the one found was not accepted.
type LoginError struct {
	Registry string
	Err      error
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("registry %s refused the login: %s", e.Registry, firstLine(e.Err.Error()))
}

func (e *LoginError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *LoginError) Hint() string {
	return fmt.Sprintf("docker login %s (ws uses the Docker CLI's logins: config.json, credsStore, credHelpers)", e.Registry)
}

// authFailures are how dockerd, containerd's resolver (BuildKit) and
// registries word a missing or refused login.
var authFailures = []string{
	"no basic auth credentials",
	"unauthorized",
	"authentication required",
	"401 unauthorized",
	"failed to authorize",
	"denied: requested access to the resource is denied",
	"may require 'docker login'",
	"incorrect username or password",
}

// IsAuthFailure reports whether err is a registry refusing a login.
func IsAuthFailure(err error) bool {
	if err == nil {
		return false
	}
	var le *LoginError
	if errors.As(err, &le) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, f := range authFailures {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
