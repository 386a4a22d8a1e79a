package launcher

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/ws-tools/ws/entrypoint"
)

// containerConfig is the one place a plan becomes Docker's configuration.
// It is a pure function of its inputs, so tests can assert on it.
func containerConfig(p Plan, pay Payload, d *delivery, users *userDB) (*container.Config, *container.HostConfig) {
	u := p.User
	env := []string{
		entrypoint.EnvUID + "=" + strconv.Itoa(u.UID),
		entrypoint.EnvGID + "=" + strconv.Itoa(u.GID),
		entrypoint.EnvUser + "=" + u.Name,
		entrypoint.EnvHome + "=" + u.Home,
		// Docker's init (tini) passes the signals ws forwards to the
		// command's whole process group, as a terminal's Ctrl-C does; that
		// also reaches the command when the entrypoint stays to watch the
		// secrets.
		entrypoint.EnvKillGroup + "=1",
	}
	env = append(env, p.Env...)
	var names []string
	for _, s := range pay.Secrets {
		env = append(env, s.Env+"="+s.Path())
		names = append(names, s.Name)
	}
	if len(names) > 0 {
		env = append(env, entrypoint.EnvSecrets+"="+strings.Join(names, " "))
	}
	if pay.GPG != nil {
		env = append(env, entrypoint.EnvGPGHome+"="+entrypoint.GPGHome)
	}
	if d.pending() {
		env = append(env, entrypoint.EnvDelivery+"="+d.way())
	}
	if p.ReadOnly {
		env = append(env, entrypoint.EnvReadOnly+"=1")
	}
	if p.TTY && p.Term != "" {
		env = append(env, "TERM="+p.Term)
	}

	ids := fmt.Sprintf("uid=%d,gid=%d", u.UID, u.GID)
	// tmpfs mounts owned by the caller from the start: nothing needs root
	// to chown them. Docker mounts by depth, so a socket or FIFO bound
	// inside one lands on the tmpfs.
	tmpfs := map[string]string{
		entrypoint.SecretsDir: ids + ",mode=0700",
		u.Home:                ids + ",mode=0755",
	}
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: p.Root, Target: p.Root}}
	if pay.GPG != nil {
		// Its own tmpfs, so the caller owns the directory Docker makes for
		// the socket's mount point.
		tmpfs[entrypoint.GPGHome] = ids + ",mode=0700"
		if pay.GPG.RelayDir != "" { // else the agent bridge makes the socket inside
			mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: pay.GPG.RelayDir, Target: entrypoint.AgentDir})
		}
	}
	if p.ReadOnly {
		tmpfs["/tmp"] = "mode=1777"
	}
	mounts = append(mounts, d.mounts()...)
	mounts = append(mounts, users.mounts()...)
	for _, m := range p.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}

	init := true
	cfg := &container.Config{
		Image:        p.Image,
		Hostname:     p.Hostname,
		Cmd:          p.Argv,
		Env:          env,
		WorkingDir:   p.Dir,
		User:         fmt.Sprintf("%d:%d", u.UID, u.GID),
		Tty:          p.TTY,
		AttachStdout: true,
		AttachStderr: true,
		Labels:       p.Labels,
	}
	hostCfg := &container.HostConfig{
		Init:           &init,
		Mounts:         mounts,
		Tmpfs:          tmpfs,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		NetworkMode:    container.NetworkMode(p.Network),
		ReadonlyRootfs: p.ReadOnly,
		// ws streams the output through attach; a log driver would also
		// keep it on disk under Docker's data root, and a workspace prints
		// decrypted credentials (kubectl config view --raw, cat $KUBECONFIG).
		LogConfig: container.LogConfig{Type: "none"},
	}
	return cfg, hostCfg
}
