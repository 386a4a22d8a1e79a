package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BuildkitdContainer is buildkitd running in a Docker container, as buildx's
// docker-container driver runs it: reached with `docker exec NAME buildctl
// dial-stdio`.
type BuildkitdContainer struct {
	Name string
}

// StartBuildkitdContainer builds an image from base holding buildkitd and
// buildctl (built from the version go.mod pins), the host's runc and its
// libseccomp (host and base are both Debian bookworm), and runs it as name:
// privileged, as the moby/buildkit image runs, on the host network so it
// reaches the harness's registries and artifact servers on loopback.
func StartBuildkitdContainer(ctx context.Context, repo, cacheDir, base, name string, registries ...string) (*BuildkitdContainer, error) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("the buildkitd container needs runc (apt-get install runc)")
	}
	dir, err := os.MkdirTemp(cacheDir, "buildkitd-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, pkg := range []string{"buildkitd", "buildctl"} {
		if err := goBuild(ctx, repo, "github.com/moby/buildkit/cmd/"+pkg, filepath.Join(dir, pkg)); err != nil {
			return nil, err
		}
	}
	if err := copyFile(runc, filepath.Join(dir, "runc")); err != nil {
		return nil, err
	}
	libseccomp, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libseccomp.so.2")
	if err != nil {
		return nil, fmt.Errorf("runc's libseccomp: %w", err)
	}
	if err := copyFile(libseccomp, filepath.Join(dir, "libseccomp.so.2")); err != nil {
		return nil, err
	}
	conf := "[worker.oci]\n  enabled = true\n[worker.containerd]\n  enabled = false\n"
	for _, r := range registries {
		conf += fmt.Sprintf("[registry.%q]\n  http = true\n", r)
	}
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	dockerfile := "FROM " + base + "\n" +
		"COPY buildkitd buildctl runc /usr/local/bin/\n" +
		"COPY libseccomp.so.2 /usr/lib/x86_64-linux-gnu/libseccomp.so.2\n" +
		"COPY buildkitd.toml /etc/buildkit/buildkitd.toml\n" +
		"ENTRYPOINT [\"/usr/local/bin/buildkitd\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return nil, err
	}
	image := "ws-e2e-buildkitd:" + strings.ToLower(name)
	if out, err := exec.CommandContext(ctx, "docker", "pull", "-q", base).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker pull %s: %v\n%s", base, err, out)
	}
	build := exec.CommandContext(ctx, "docker", "build", "-q", "-t", image, dir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0") // the classic builder: no BuildKit under test here
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker build the buildkitd image: %v\n%s", err, out)
	}
	// What --privileged would give, spelled out: the test machine may itself
	// be a container whose bounding set lacks a capability (CAP_SYS_RESOURCE
	// here), and then --privileged cannot start at all. runc inside needs
	// the cgroup hierarchy writable and /proc unmasked. The state lives on
	// a volume: overlayfs cannot stack on the container's own overlay root.
	args := []string{"run", "-d", "--name", name, "--network", "host", "--label", "ws.e2e=1",
		"--cap-add", "ALL", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--security-opt", "systempaths=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup", "-v", "/var/lib/buildkit"}
	for _, c := range missingCaps() {
		args = append(args, "--cap-drop", c)
	}
	run := exec.CommandContext(ctx, "docker", append(args, image)...)
	if out, err := run.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker run buildkitd: %v\n%s", err, out)
	}
	b := &BuildkitdContainer{Name: name}
	var last []byte
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if last, err = exec.CommandContext(ctx, "docker", "exec", name, "buildctl", "debug", "workers").CombinedOutput(); err == nil {
			return b, nil
		}
	}
	logs, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
	b.Stop()
	return nil, fmt.Errorf("buildkitd in container %s did not answer within 60s: %s\nits log:\n%s", name, last, logs)
}

// Stop removes the container, its volume and image.
func (b *BuildkitdContainer) Stop() {
	if b == nil {
		return
	}
	exec.Command("docker", "rm", "-f", "-v", b.Name).Run()
	exec.Command("docker", "image", "rm", "-f", "ws-e2e-buildkitd:"+strings.ToLower(b.Name)).Run()
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// capNames are the capabilities by number, as /proc/self/status counts them.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// missingCaps are the capabilities this machine's bounding set lacks
// (dockerd runs with the same set), which a container cannot be given.
func missingCaps() []string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var bnd uint64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%x", &bnd)
		}
	}
	var out []string
	for i, name := range capNames {
		if bnd&(1<<i) == 0 {
			out = append(out, name)
		}
	}
	return out
}
