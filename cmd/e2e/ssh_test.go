//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshEngine starts Debian's sshd on 127.0.0.1 for a user in the docker
// group, with throwaway keys, and returns DOCKER_HOST=ssh://… and a HOME
// whose ssh knows the key and the host.
func sshEngine(t *testing.T) (dockerHost, home string) {
	t.Helper()
	sshd, err := exec.LookPath("/usr/sbin/sshd")
	if err != nil {
		unavailable(t, "no sshd (Debian's openssh-server)")
	}
	const name = "wse2essh"
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "-m", "-G", "docker", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
			unavailable(t, "cannot add the ssh user: %v\n%s", err, out)
		}
	}
	u, _ := user.Lookup(name)
	dir, _ := os.MkdirTemp("", "ws-ssh-")
	t.Cleanup(func() { os.RemoveAll(dir) })
	// ssh reads ~/.ssh from the passwd entry, not $HOME: the client side
	// lives in the ssh user's own home, and ws runs as that user.
	home = u.HomeDir
	os.RemoveAll(filepath.Join(home, ".ssh"))
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	keygen := func(path string) {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	hostKey, userKey := filepath.Join(dir, "host_key"), filepath.Join(home, ".ssh", "id_ed25519")
	keygen(hostKey)
	keygen(userKey)
	// sshd reads the keys as the user, and refuses a locked account ("!").
	auth := filepath.Join(home, ".ssh", "authorized_keys")
	pub, _ := os.ReadFile(userKey + ".pub")
	os.WriteFile(auth, pub, 0o600)
	exec.Command("usermod", "-p", "*", name).Run()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", "/dev/null", "-p", fmt.Sprint(port), "-h", hostKey,
		"-o", "ListenAddress=127.0.0.1", "-o", "AuthorizedKeysFile="+auth, "-o", "StrictModes=no",
		"-o", "PasswordAuthentication=no", "-o", "UsePAM=no", "-o", "PidFile=none")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	hostPub, _ := os.ReadFile(hostKey + ".pub")
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o600)
	exec.Command("chown", "-R", u.Uid+":"+u.Gid, home).Run()
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d", name, port), home
}

// DOCKER_HOST=ssh://USER@127.0.0.1:PORT: ws, run by that user, reaches the
// engine through the Docker CLI's ssh helper; the workspace gets its
// (age-encrypted) secrets the remote-engine way (exec delivery, users
// copied in) and kubectl reads the decrypted kubeconfig.
func TestEngineOverSSH(t *testing.T) {
	w := execWorkspace(t)
	copySecretFixtures(t, w.dir, "age")
	dockerHost, home := sshEngine(t)
	u, _ := user.Lookup("wse2essh")
	docker, _ := user.LookupGroup("docker")
	repo, _ := filepath.Abs("../..")
	key, _ := os.ReadFile(filepath.Join(repo, "testdata/age/keys.txt"))
	os.WriteFile(filepath.Join(home, "age.txt"), key, 0o600)
	exec.Command("chown", "-R", u.Uid+":"+u.Gid, home).Run()
	as := func(args ...string) result {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--groups=" + docker.Gid, "--", wsBin}, args...)...)
		cmd.Dir = w.dir
		cmd.Env = []string{"HOME=" + home, "USER=wse2essh", "PATH=/usr/bin:/bin", "DOCKER_HOST=" + dockerHost,
			"SOPS_AGE_KEY_FILE=" + filepath.Join(home, "age.txt"), "WS_FRESH=1", "WS_SOPS_HELPER=" + os.Getenv("WS_SOPS_HELPER")}
		return collect(t, cmd)
	}
	if r := as("trust"); r.code != 0 {
		t.Fatalf("ws trust exited %d", r.code)
	}
	r := as("--debug", "exec", "--", "kubectl", "config", "current-context")
	if r.code != 0 || r.stdout != "ws-e2e\n" {
		t.Fatalf("over ssh: exit %d, stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "ssh://wse2essh@127.0.0.1") {
		t.Fatalf("the --debug log does not show the ssh engine:\n%s", r.stderr)
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}
