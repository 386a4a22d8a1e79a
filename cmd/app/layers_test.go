package app

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/ws-tools/ws"

// layerRules are the arrows the code may not draw, in the order data
// flows (lock → image → plan → container → entrypoint). Each rule names a
// package (or a prefix ending in "/") and the packages of ours it may not
// depend on, directly or not.
var layerRules = []struct {
	pkg     string
	mayNot  []string
	because string
}{
	{"entrypoint", []string{""}, "the contract imports nothing else of ws"},
	{"images/lock", []string{"images/", "launcher", "cmd/"}, "the lock is a leaf: at most the contract"},
	{"launcher", []string{"images/", "cmd/"}, "the launcher takes a plan; it knows nothing of the lock or images"},
	{"launcher/", []string{"images/", "cmd/"}, "the launcher takes a plan; it knows nothing of the lock or images"},
	{"images/", []string{"cmd/", "launcher", "launcher/secrets", "launcher/hostkeys"}, "images never reach up to the launcher (only its engine connection) or the command line"},
}

// violations lists every dependency of ours that a rule forbids; deps maps
// a package (relative to the module) to its dependencies of ours.
func violations(deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range layerRules {
			if !matches(pkg, r.pkg) {
				continue
			}
			for _, d := range ds {
				for _, no := range r.mayNot {
					if d != pkg && (no == "" || matches(d, no)) && !(r.pkg == "entrypoint" && d == "entrypoint") {
						out = append(out, pkg+" imports "+d+": "+r.because)
					}
				}
			}
		}
		if !strings.HasPrefix(pkg, "cmd/") {
			for _, d := range ds {
				if strings.HasPrefix(d, "cmd/") {
					out = append(out, pkg+" imports "+d+": nothing outside cmd imports cmd/…")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// matches: a rule "x/" is every package below x; "x" is x itself.
func matches(pkg, rule string) bool {
	if strings.HasSuffix(rule, "/") {
		return strings.HasPrefix(pkg, rule)
	}
	return pkg == rule
}

// ourDeps runs go list over the module (tests excluded: e2e helpers may
// reach anywhere).
func ourDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "./...")
	cmd.Dir = projectRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/") {
				deps[rel] = append(deps[rel], strings.TrimPrefix(d, module+"/"))
			}
		}
		if _, ok := deps[rel]; !ok {
			deps[rel] = nil
		}
	}
	return deps
}

func TestLayers(t *testing.T) {
	t.Parallel()
	deps := ourDeps(t)
	for _, must := range []string{"entrypoint", "images/lock", "launcher", "cmd/plan"} {
		if _, ok := deps[must]; !ok {
			t.Fatalf("go list did not report %s", must)
		}
	}
	for _, v := range violations(deps) {
		t.Error(v)
	}
}

// The check must catch an upward import, direct or through another package.
func TestLayersCatchUpwardImports(t *testing.T) {
	t.Parallel()
	tests := map[string]map[string][]string{
		"entrypoint imports the lock":   {"entrypoint": {"images/lock"}},
		"lock imports the launcher":     {"images/lock": {"entrypoint", "launcher"}},
		"launcher imports the lock":     {"launcher": {"entrypoint", "images/lock"}},
		"secrets imports images":        {"launcher/secrets": {"launcher", "images/definition", "images/lock"}},
		"build imports the launcher":    {"images/build": {"launcher", "entrypoint"}},
		"the launcher imports cmd/plan": {"launcher": {"cmd/plan"}},
	}
	for name, deps := range tests {
		if len(violations(deps)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	if v := violations(map[string][]string{"images/build": {"launcher/engine", "images/lock", "entrypoint"}, "cmd/app": {"cmd/plan", "launcher"}}); len(v) != 0 {
		t.Errorf("allowed arrows reported: %v", v)
	}
}

// ws itself must not link sops: its cloud KMS SDKs would initialise on
// every start (ws --version included); ws-sops decrypts instead.
func TestWsDoesNotLinkSops(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", "./cmd/ws")
	cmd.Dir = projectRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/getsops/") || strings.Contains(dep, "/sopsfile") {
			t.Fatalf("cmd/ws depends on %s: decryption belongs to cmd/ws-sops", dep)
		}
	}
}
