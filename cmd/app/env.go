package app

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/launcher/engine"
)

// Env is everything a command touches outside its own logic, so tests can
// run commands with buffers and a fake environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the caller's environment.
	Getenv func(string) string
	// Dir is where ws was started; -C replaces it.
	Dir string
	// HTTP downloads artifacts.
	HTTP *http.Client
	// Log is the debug log (--debug); details that would clutter an error
	// line go here.
	Log *slog.Logger
	// Docker connects to the Docker daemon, once, when a command needs it.
	Docker func() (*dockerclient.Client, error)
	// Endpoint is the engine, found as the Docker CLI finds it (--context,
	// DOCKER_HOST, DOCKER_CONTEXT, config.json), once.
	Endpoint func() (engine.Endpoint, error)
	// Context is --context.
	Context string
	// Caller is the host user running ws.
	Caller plan.Caller
	// CacheDir is ws's cache (XDG), for files that hold no secret.
	CacheDir string
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *Env {
	dir, _ := os.Getwd()
	e := &Env{
		Stdin:    stdin,
		Stdout:   stdout,
		Stderr:   stderr,
		Getenv:   os.Getenv,
		Dir:      dir,
		HTTP:     httpClient(),
		Log:      slog.New(slog.DiscardHandler),
		Docker:   nil, // set below: it needs the endpoint
		Caller:   caller(),
		CacheDir: cacheDir(),
	}
	e.Endpoint = sync.OnceValues(func() (engine.Endpoint, error) { return engine.Resolve(e.Context, e.Getenv) })
	e.Docker = sync.OnceValues(func() (*dockerclient.Client, error) {
		ep, err := e.Endpoint()
		if err != nil {
			return nil, err
		}
		e.Log.Debug("engine", "context", ep.Context, "host", ep.Host, "why", ep.Why)
		return ep.Client()
	})
	return e
}

// httpClient gives up on a host that does not connect or answer; the
// total timeout is long (a big artifact on a slow link may take minutes)
// and each reader caps what it reads.
func httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t, Timeout: 30 * time.Minute}
}

// caller is the host user: ids, and the name from the user database,
// else $USER.
func caller() plan.Caller {
	c := plan.Caller{UID: os.Getuid(), GID: os.Getgid()}
	if cur, err := user.Current(); err == nil && cur.Username != "" {
		c.Name = cur.Username
	} else {
		c.Name = os.Getenv("USER")
	}
	return c
}

func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ws")
}
