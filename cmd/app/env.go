package app

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"

	dockerclient "github.com/docker/docker/client"
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
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *Env {
	dir, _ := os.Getwd()
	return &Env{
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Getenv: os.Getenv,
		Dir:    dir,
		HTTP:   &http.Client{},
		Log:    slog.New(slog.DiscardHandler),
		Docker: sync.OnceValues(newDocker),
	}
}
