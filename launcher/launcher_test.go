package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ws-tools/ws/entrypoint"
)

// fakeDocker fails the call named in failAt and records what it was asked.
type fakeDocker struct {
	failAt  string
	mu      sync.Mutex
	created []string
	removed []string
	configs []*container.HostConfig
	calls   []string
}

var errInjected = errors.New("injected failure")

func (f *fakeDocker) step(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if f.failAt == name {
		return errInjected
	}
	return nil
}

func (f *fakeDocker) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispecs.Platform, name string) (container.CreateResponse, error) {
	what := "create"
	if name == "" {
		what = "create-probe"
	}
	if err := f.step(what); err != nil {
		return container.CreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := strings.Repeat(string(rune('a'+len(f.created))), 64)
	f.created = append(f.created, id)
	f.configs = append(f.configs, hc)
	return container.CreateResponse{ID: id}, nil
}

func (f *fakeDocker) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.step("remove")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeDocker) ContainerAttach(context.Context, string, container.AttachOptions) (types.HijackedResponse, error) {
	if err := f.step("attach"); err != nil {
		return types.HijackedResponse{}, err
	}
	client, server := net.Pipe()
	server.Close()
	return types.NewHijackedResponse(client, ""), nil
}

func (f *fakeDocker) ContainerStart(context.Context, string, container.StartOptions) error {
	return f.step("start")
}

func (f *fakeDocker) ContainerWait(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	// Never exits on its own: a failed delivery must end the run.
	return make(chan container.WaitResponse), make(chan error)
}

func (f *fakeDocker) ContainerKill(context.Context, string, string) error { return nil }
func (f *fakeDocker) ContainerResize(context.Context, string, container.ResizeOptions) error {
	return nil
}

func (f *fakeDocker) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return nil, f.step("list")
}

func (f *fakeDocker) ContainerExecCreate(context.Context, string, container.ExecOptions) (container.ExecCreateResponse, error) {
	return container.ExecCreateResponse{ID: "exec"}, f.step("deliver")
}

func (f *fakeDocker) ContainerExecAttach(context.Context, string, container.ExecAttachOptions) (types.HijackedResponse, error) {
	return types.HijackedResponse{}, errors.New("not reached in these tests")
}

func (f *fakeDocker) ContainerExecStart(context.Context, string, container.ExecStartOptions) error {
	return nil
}

func (f *fakeDocker) ContainerExecResize(context.Context, string, container.ResizeOptions) error {
	return nil
}

func (f *fakeDocker) ContainerExecInspect(context.Context, string) (container.ExecInspect, error) {
	return container.ExecInspect{}, nil
}

func (f *fakeDocker) CopyFromContainer(_ context.Context, _, path string) (io.ReadCloser, container.PathStat, error) {
	if err := f.step("read " + path); err != nil {
		return nil, container.PathStat{}, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := []byte("root:x:0:0:root:/root:/bin/bash\n")
	tw.WriteHeader(&tar.Header{Name: path[strings.LastIndex(path, "/")+1:], Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	return io.NopCloser(&buf), container.PathStat{}, nil
}

func (f *fakeDocker) CopyToContainer(context.Context, string, string, io.Reader, container.CopyToContainerOptions) error {
	return f.step("copy users")
}

func (f *fakeDocker) ContainerStatPath(context.Context, string, string) (container.PathStat, error) {
	return container.PathStat{}, nil
}

// remotePlan is a run on an engine elsewhere: users copied in, secrets
// delivered by exec.
func remotePlan() Plan {
	return Plan{
		Image: "ws-tools:0123456789abcdef", Root: "/src/repo", Dir: "/src/repo", Argv: []string{"true"},
		User:     entrypoint.User{UID: 1500, GID: 20, Name: "alice", Home: "/home/alice"},
		Name:     "ws-repo",
		Delivery: entrypoint.DeliveryExec,
	}
}

// Every way a run can fail after its container exists removes it; a
// failure before that leaves nothing to remove.
func TestRunRemovesTheContainerOnEveryFailure(t *testing.T) {
	t.Parallel()
	pay := Payload{Secrets: []Decrypted{{Secret: Secret{Name: "kubeconfig", Env: "KUBECONFIG"}, Plain: []byte("k")}}}
	for _, step := range []string{"read /etc/passwd", "create", "copy users", "attach", "start", "deliver"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			d := &fakeDocker{failAt: step}
			l := &Launcher{Docker: d}
			err := l.Run(context.Background(), remotePlan(), pay, IO{Stdout: io.Discard, Stderr: io.Discard})
			if !errors.Is(err, errInjected) {
				t.Fatalf("Run: %v, want the injected failure", err)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			left := map[string]bool{}
			for _, id := range d.created {
				left[id] = true
			}
			for _, id := range d.removed {
				delete(left, id)
			}
			if len(left) != 0 {
				t.Fatalf("after a failed %s, containers left: %d (calls %v)", step, len(left), d.calls)
			}
		})
	}
}

// The container's configuration: the caller from the first process, no
// capabilities, tmpfs owned by the caller, nothing logged to disk.
func TestContainerConfigIsRootless(t *testing.T) {
	t.Parallel()
	p := remotePlan()
	pay := Payload{GPG: &GPGForward{AgentSocket: "/run/user/1500/gnupg/S.gpg-agent.extra", RelayDir: "/run/user/1500/ws-agent/0123"}}
	d := &delivery{files: pay.files()}
	cfg, hc := containerConfig(p, pay, d, &userDB{})
	if cfg.User != "1500:20" || len(hc.CapAdd) != 0 || len(hc.CapDrop) != 1 || hc.CapDrop[0] != "ALL" ||
		hc.SecurityOpt[0] != "no-new-privileges" || hc.LogConfig.Type != "none" {
		t.Fatalf("user %q, cap add %v, cap drop %v, security %v, log %q", cfg.User, hc.CapAdd, hc.CapDrop, hc.SecurityOpt, hc.LogConfig.Type)
	}
	for _, dir := range []string{entrypoint.SecretsDir, "/home/alice", entrypoint.GPGHome} {
		if !strings.Contains(hc.Tmpfs[dir], "uid=1500,gid=20") {
			t.Errorf("tmpfs %s: %q, want it owned by the caller", dir, hc.Tmpfs[dir])
		}
	}
	// The workspace gets the relay's directory, never the agent's socket.
	for _, m := range hc.Mounts {
		if strings.Contains(m.Source, "S.gpg-agent") {
			t.Errorf("the agent's socket is mounted: %+v", m)
		}
	}
	if !slices.ContainsFunc(hc.Mounts, func(m mount.Mount) bool {
		return m.Source == "/run/user/1500/ws-agent/0123" && m.Target == entrypoint.AgentDir
	}) {
		t.Errorf("the relay directory is not mounted at %s: %+v", entrypoint.AgentDir, hc.Mounts)
	}
	env := strings.Join(cfg.Env, " ")
	for _, want := range []string{"WS_UID=1500", "GNUPGHOME=" + entrypoint.GPGHome, "WS_DELIVERY=exec"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
		}
	}
}
