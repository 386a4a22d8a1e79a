package plan

import (
	"fmt"
	"strings"

	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/secrets"
)

// Item is one thing trusting a workspace lets its lock do on this host.
type Item struct {
	Text string
	// HostRoot says why the item amounts to root on the host; "" if not.
	HostRoot string
}

// Describe lists what the lock at root asks of this host, in words a user
// can judge: each mount with its host path, the network, variables, the
// registries, the secrets and the GPG agent, the download hosts. Text read
// from the repository is stripped of control characters.
func Describe(l *lock.Lock, root, home string) []Item {
	r := l.Reach()
	clean := launcher.Printable
	items := []Item{{Text: "mount the repository " + clean(root) + " read-write and run its pinned tools"}}
	for _, spec := range expandMounts(l.Workspace.Mounts, root, home) {
		src, dst, _ := strings.Cut(spec, ":")
		mode := "read-write"
		if strings.HasSuffix(dst, ":ro") {
			mode, dst = "read-only", strings.TrimSuffix(dst, ":ro")
		}
		dst = strings.TrimSuffix(dst, ":rw")
		items = append(items, Item{Text: fmt.Sprintf("mount %s from this host at %s (%s)", clean(src), clean(dst), mode), HostRoot: lock.HostRoot(src)})
	}
	if r.Network != "" {
		it := Item{Text: "use the network " + clean(r.Network)}
		if r.Network == "host" {
			it.HostRoot = "the host's network namespace: every service listening on this machine, localhost-only ones included (the Docker API on tcp, for one)"
		}
		items = append(items, it)
	}
	if len(r.Env) > 0 {
		var names []string
		for _, kv := range r.Env {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, clean(k))
		}
		items = append(items, Item{Text: "set the variables " + strings.Join(names, ", ")})
	}
	if r.GitWritable {
		items = append(items, Item{Text: "write .git/hooks and .git/config, which your git on the host runs code from", HostRoot: "code your git runs on the host at the next commit"})
	}
	var files []string
	for _, s := range l.Workspace.SecretFiles() {
		files = append(files, clean(s.File)+" as $"+clean(s.Env))
	}
	items = append(items, Item{Text: "decrypt with your keys, into the workspace's memory: " + strings.Join(files, ", ") + optionalNote(l)})
	if fps := secrets.PGPRecipients(root, Secrets(l)); len(fps) > 0 {
		for i := range fps {
			fps[i] = clean(fps[i])
		}
		items = append(items, Item{Text: "decrypt through your GPG agent with the keys of " + strings.Join(fps, ", ") + " only (ws's relay refuses signing and other keys)"})
	}
	if r.GPGSign {
		items = append(items, Item{Text: "sign with your git signing key (user.signingkey) through your GPG agent: commits and tags in your name"})
	}
	if r.Image != "" {
		items = append(items, Item{Text: "pull the workspace image from " + clean(r.Image) + " instead of building it"})
	}
	items = append(items, Item{Text: "build from the base image " + clean(r.BaseRepository)})
	if len(r.Hosts) > 0 {
		items = append(items, Item{Text: "download tools from " + clean(strings.Join(r.Hosts, ", "))})
	}
	return items
}

func optionalNote(l *lock.Lock) string {
	if l.Workspace.Secrets == nil {
		return " (those present)"
	}
	return ""
}
