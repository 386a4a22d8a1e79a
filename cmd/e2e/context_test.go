//go:build e2e

package e2e

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countingSocketProxy is a unix socket in front of the Docker engine that
// counts the connections made through it.
func countingSocketProxy(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ws-ctx-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer client.Close()
				daemon, err := net.Dial("unix", "/var/run/docker.sock")
				if err != nil {
					return
				}
				defer daemon.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(daemon, client); daemon.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(client, daemon); client.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return path, &n
}

// A Docker context made with docker context create, and chosen with docker
// context use, is the engine ws uses too (DOCKER_HOST unset), for exec,
// enter and build; DOCKER_CONTEXT=default is not; ws doctor names it.
func TestEngineFromDockerContext(t *testing.T) {
	w := execWorkspace(t)
	sock, count := countingSocketProxy(t)
	cfg := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST="}
	docker := func(args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	docker("context", "create", "ws-e2e-proxy", "--docker", "host=unix://"+sock)
	docker("context", "use", "ws-e2e-proxy")
	through := func(what string, args ...string) {
		t.Helper()
		before := count.Load()
		r := runWsEnv(t, w.dir, env, args...)
		if r.code != 0 {
			t.Fatalf("%s exited %d", what, r.code)
		}
		if count.Load() == before {
			t.Fatalf("%s did not go through the context's engine", what)
		}
	}
	through("ws exec", "exec", "--", "true")
	through("ws enter", "enter")
	through("ws build", "build")
	r := runWsEnv(t, w.dir, env, "doctor", "--json")
	if !strings.Contains(r.stdout, `Docker context ws-e2e-proxy (currentContext in `+cfg+`/config.json): unix://`+sock) {
		t.Fatalf("ws doctor does not name the context:\n%s", r.stdout)
	}
	before := count.Load()
	if r := runWsEnv(t, w.dir, append(env, "DOCKER_CONTEXT=default"), "exec", "--", "true"); r.code != 0 || count.Load() != before {
		t.Fatalf("DOCKER_CONTEXT=default: exit %d, %d connections through the proxy", r.code, count.Load()-before)
	}
}
