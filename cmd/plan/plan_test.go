package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
)

// demo is a workspace holding the repository's own tools.lock.
func demo(t *testing.T) (root string, l *lock.Lock) {
	t.Helper()
	l, err := lock.Load("../../tools.lock")
	if err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(t.TempDir(), "Homelab.Cluster_repo")
	if err := os.MkdirAll(filepath.Join(root, "clusters", "prod"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, l
}

// trusted is the consent these tests give their own workspaces.
var trusted = Verdict{ForThisRun: true}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestPlanOfTheDemoWorkspace(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	p, err := Make(Input{
		Lock: l, Root: root, Dir: filepath.Join(root, "clusters", "prod"), Argv: []string{"kubectl", "get", "ns"},
		Caller: Caller{UID: 1500, GID: 20, Name: "alice"}, Platform: lock.Platform{OS: "linux", Arch: "amd64"},
		GOOS: "linux", Verdict: trusted, Getenv: env(map[string]string{"HOME": "/home/alice", "TERM": "xterm"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"user", p.User, entrypoint.User{UID: 1500, GID: 20, Name: "alice", Home: "/home/alice"}},
		{"working dir", p.Dir, filepath.Join(root, "clusters", "prod")},
		{"argv", strings.Join(p.Argv, " "), "kubectl get ns"},
		{"hostname", p.Hostname, "ws-homelab.cluster_repo"},
		{"no terminal, no TERM", p.TTY || p.Term != "", false},
		{"delivery", p.Delivery, entrypoint.DeliveryPipe},
		{"gpg", p.GPG, launcher.GPGPlan{Forward: true}},
		{"secrets: the convention", len(p.Secrets), 2},
		{"kubeconfig", p.Secrets[0], launcher.Secret{Name: "kubeconfig", File: "kubeconfig", Env: "KUBECONFIG", Optional: true}},
		{"read-only", p.ReadOnly, false},
		{"workspace label", p.Labels[launcher.LabelWorkspace], launcher.WorkspaceID(root)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if !strings.HasPrefix(p.Image, "ws-tools:") || len(p.Image) != len("ws-tools:")+16 {
		t.Errorf("image %q is not a ws-tools content tag", p.Image)
	}
}

func TestPlanReadOnlyWithMountsAndEnv(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, ".aws"), 0o700)
	l.Workspace.Env = []string{"EDITOR=vi"}
	l.Workspace.Mounts = []string{"~/.aws:/home/alice/.aws:ro", "clusters:/clusters"}
	p, err := Make(Input{
		Lock: l, Root: root, Dir: "/somewhere/else", TTY: true,
		Caller: Caller{UID: 1500, GID: 1500, Name: "alice"}, Platform: lock.HostPlatform(), GOOS: "linux", Verdict: trusted,
		Flags:  Flags{ReadOnly: true, Env: []string{"KUBE_EDITOR=nano"}, Network: "none"},
		Getenv: env(map[string]string{"HOME": home, "TERM": "screen-256color"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.ReadOnly || p.Dir != root || p.Term != "screen-256color" || p.Network != "none" {
		t.Errorf("read-only %v, dir %s, term %q, network %q", p.ReadOnly, p.Dir, p.Term, p.Network)
	}
	if strings.Join(p.Env, " ") != "EDITOR=vi KUBE_EDITOR=nano" {
		t.Errorf("env %q: the lock's, then -e", p.Env)
	}
	want := []launcher.Mount{
		{Source: filepath.Join(home, ".aws"), Target: "/home/alice/.aws", ReadOnly: true},
		{Source: filepath.Join(root, "clusters"), Target: "/clusters"},
	}
	if len(p.Mounts) != 2 || p.Mounts[0] != want[0] || p.Mounts[1] != want[1] {
		t.Errorf("mounts %+v, want %+v", p.Mounts, want)
	}
}

func TestPlanForARemoteEngine(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	p, err := Make(Input{
		Lock: l, Root: root, Dir: root, Caller: Caller{UID: 1000, GID: 1000, Name: "bob"},
		Platform: lock.HostPlatform(), GOOS: "linux", Verdict: trusted,
		Getenv: env(nil), EngineHost: "tcp://buildbox:2376",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Delivery != entrypoint.DeliveryExec {
		t.Errorf("delivery %q: a remote engine cannot mount this host's FIFO", p.Delivery)
	}
	if !p.GPG.Forward || !p.GPG.Stream || !strings.Contains(p.GPG.Why, "tcp://buildbox:2376") {
		t.Errorf("gpg %+v: a remote engine gets the relay over an exec stream (no socket can be mounted)", p.GPG)
	}
}

func TestPlanRefusals(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	tests := []struct {
		name  string
		flags Flags
		want  any
	}{
		{"ws's own variable", Flags{Env: []string{"WS_UID=0"}}, &ReservedEnvError{}},
		{"the loader's", Flags{Env: []string{"LD_PRELOAD=/tmp/x.so"}}, &ReservedEnvError{}},
		{"HOME", Flags{Env: []string{"HOME=/"}}, &ReservedEnvError{}},
		{"a mount with no target", Flags{Volumes: []string{"/etc"}}, &MountError{}},
		{"a missing source", Flags{Volumes: []string{"/nonexistent/x:/x"}}, &MountError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Make(Input{Lock: l, Root: root, Dir: root, Caller: Caller{UID: 1000, GID: 1000, Name: "bob"},
				Platform: lock.HostPlatform(), GOOS: "linux", Verdict: trusted, Flags: tt.flags, Getenv: env(nil)})
			var re *ReservedEnvError
			var me *MountError
			switch tt.want.(type) {
			case *ReservedEnvError:
				if !errors.As(err, &re) {
					t.Fatalf("got %v, want a reserved-name error", err)
				}
			case *MountError:
				if !errors.As(err, &me) {
					t.Fatalf("got %v, want a mount error", err)
				}
			}
		})
	}
}

func TestHostnameFitsALabel(t *testing.T) {
	t.Parallel()
	h := Hostname("/src/" + strings.Repeat("very-long-folder-name-", 10))
	if len(h) > 63 || strings.HasSuffix(h, "-") {
		t.Fatalf("host name %q (%d characters)", h, len(h))
	}
}

func TestNoPlanWithoutConsent(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	store := Store{Dir: t.TempDir()}
	in := Input{Lock: l, Root: root, Dir: root, Caller: Caller{UID: os.Getuid(), GID: os.Getgid(), Name: "me"},
		Platform: lock.HostPlatform(), GOOS: "linux", Getenv: env(nil)}
	os.WriteFile(filepath.Join(root, "tools.lock"), []byte("x"), 0o644)
	check := func() Verdict {
		v, err := CheckTrust(store, root, filepath.Join(root, "tools.lock"), l, os.Getuid(), false)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	in.Verdict = check()
	var ue *UntrustedError
	if _, err := Make(in); !errors.As(err, &ue) || len(ue.Changes) != 0 {
		t.Fatalf("never trusted: %v", err)
	}
	if err := store.Save(root, l.Reach()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(store.Dir); st.Mode().Perm() != 0o700 {
		t.Errorf("trust store mode %v, want 0700", st.Mode().Perm())
	}
	in.Verdict = check()
	if _, err := Make(in); err != nil {
		t.Fatalf("trusted: %v", err)
	}
	// A version bump on the same hosts keeps the consent.
	l.Tools[0].Version = "v9.9.9"
	if in.Verdict = check(); !in.Verdict.Trusted() {
		t.Fatalf("a version bump asked again: %v", in.Verdict.Changes())
	}
	// A new mount does not, and says what changed.
	l.Workspace.Mounts = []string{"/var/run/docker.sock:/var/run/docker.sock"}
	in.Verdict = check()
	if _, err := Make(in); !errors.As(err, &ue) || len(ue.Changes) != 1 || ue.Changes[0] != "+ mount /var/run/docker.sock:/var/run/docker.sock" {
		t.Fatalf("new mount: %v", err)
	}
	if forgot, err := store.Forget(root); !forgot || err != nil {
		t.Fatalf("forget: %v %v", forgot, err)
	}
}

func TestGitGuards(t *testing.T) {
	t.Parallel()
	root, l := demo(t)
	os.MkdirAll(filepath.Join(root, ".git"), 0o755)
	os.WriteFile(filepath.Join(root, ".git", "config"), nil, 0o644)
	for _, writable := range []bool{false, true} {
		p, err := Make(Input{Lock: l, Root: root, Dir: root, Caller: Caller{UID: 1000, GID: 1000, Name: "bob"},
			Platform: lock.HostPlatform(), GOOS: "linux", Verdict: trusted, Getenv: env(nil), Flags: Flags{GitWritable: writable}})
		if err != nil {
			t.Fatal(err)
		}
		var guarded []string
		for _, m := range p.Mounts {
			if m.ReadOnly && m.Source == m.Target {
				guarded = append(guarded, strings.TrimPrefix(m.Source, root+"/"))
			}
		}
		want := ".git/hooks .git/config"
		if writable {
			want = ""
		}
		if strings.Join(guarded, " ") != want {
			t.Errorf("git writable %v: read-only mounts %q, want %q", writable, guarded, want)
		}
	}
}
