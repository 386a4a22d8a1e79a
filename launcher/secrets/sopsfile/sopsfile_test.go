package sopsfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/hostkeys"
)

const fixtures = "../../../testdata/sops"

// defaults is the convention: kubeconfig and talosconfig at the root.
var defaults = []launcher.Secret{
	{Name: "kubeconfig", File: "kubeconfig", Env: "KUBECONFIG", Optional: true},
	{Name: "talosconfig", File: "talosconfig", Env: "TALOSCONFIG", Optional: true},
}

// marker is in the fixtures' plaintext; it is put together at run time so
// that no source or binary holds it whole (the e2e leak check greps disks).
var marker = strings.Join([]string{"WS_E2E", "PLAINTEXT", "MARKER", "pgp"}, "_")

// gnupgHome is a throwaway GNUPGHOME holding the passphrase-less fixture
// key, never the developer's keyring; its agent is stopped at the end.
func gnupgHome(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	home, err := os.MkdirTemp("", "ws-gnupg-") // short: agent socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--import", "../../../testdata/gpg/key.sec.asc").CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	return home
}

func TestDecryptPGPThroughAgent(t *testing.T) {
	t.Setenv("GNUPGHOME", gnupgHome(t))
	got, pgp, err := Decrypt(filepath.Join(fixtures, "pgp"), defaults)
	if err != nil {
		t.Fatal(err)
	}
	if len(pgp) != 1 || !hostkeys.IsFingerprint(pgp[0]) {
		t.Errorf("PGP recipients %q, want the fixture key's fingerprint once", pgp)
	}
	if len(got) != 2 || got[0].Env != "KUBECONFIG" || !strings.Contains(string(got[0].Plain), "token: ws-e2e-token-pgp") ||
		got[1].Env != "TALOSCONFIG" || !strings.Contains(string(got[1].Plain), marker) {
		t.Fatalf("decrypted: %+v", got)
	}
}

func TestDecryptAge(t *testing.T) {
	key, _ := filepath.Abs("../../../testdata/age/keys.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", key)
	got, _, err := Decrypt(filepath.Join(fixtures, "age"), defaults[:1])
	if err != nil || !strings.Contains(string(got[0].Plain), "token: ws-e2e-token-age") {
		t.Fatalf("%v %+v", err, got)
	}
}

func TestDecryptFailures(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY_FILE", "/nonexistent")
	t.Setenv("SOPS_AGE_KEY", "")
	home := t.TempDir()
	t.Setenv("GNUPGHOME", home)
	// sops' gpg starts an agent there; stop it.
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	dir := t.TempDir()
	write := func(name, text string) {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600)
	}
	pgp, _ := os.ReadFile(filepath.Join(fixtures, "pgp", "kubeconfig"))
	age, _ := os.ReadFile(filepath.Join(fixtures, "age", "kubeconfig"))
	write("plain", "apiVersion: v1\nkind: Config\n")
	write("tampered", strings.Replace(string(age), "lastmodified: \"2026", "lastmodified: \"2025", 1))
	write("age", string(age))
	write("pgp", string(pgp))
	tests := []struct{ file, want, hint string }{
		{"plain", "plain: not encrypted with sops (no sops metadata)", "sops --encrypt"},
		{"age", "age: this host cannot decrypt it (recipients: age age1", "SOPS_AGE_KEY_FILE"},
		{"pgp", "pgp: this host cannot decrypt it (recipients: pgp " + fingerprint(t) + "): pgp: no secret key of a recipient", "gpg --import"},
		{"missing", "missing: no such file, but tools.lock lists it under workspace secrets", "secrets list"},
	}
	if !strings.Contains(string(age), "lastmodified") {
		t.Fatal("fixture has no lastmodified")
	}
	for _, tt := range tests {
		_, _, err := Decrypt(dir, []launcher.Secret{{Name: tt.file, File: tt.file, Env: "X"}})
		var se *Error
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tt.want) || !strings.Contains(se.Hint(), tt.hint) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v (hint %q)", tt.file, err, hintOf(err))
		}
	}
	// The message says what exactly is missing.
	if _, _, err := Decrypt(dir, []launcher.Secret{{Name: "age", File: "age"}}); err == nil || !strings.HasSuffix(err.Error(), "): age: SOPS_AGE_KEY_FILE (/nonexistent) cannot be read") {
		t.Errorf("age without its key file: %v", err)
	}
	// With the key, a file changed outside sops fails its MAC check.
	key, _ := filepath.Abs("../../../testdata/age/keys.txt")
	t.Setenv("SOPS_AGE_KEY_FILE", key)
	if _, _, err := Decrypt(dir, []launcher.Secret{{Name: "t", File: "tampered"}}); err == nil || !strings.Contains(err.Error(), "MAC mismatch") {
		t.Errorf("tampered: %v", err)
	}
	// A missing conventional file is skipped quietly.
	if got, _, err := Decrypt(dir, defaults); err != nil || len(got) != 0 {
		t.Errorf("defaults in a folder without them: %v %v", got, err)
	}
}

func fingerprint(t *testing.T) string {
	b, err := os.ReadFile("../../../testdata/gpg/key.fpr")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func hintOf(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.Hint()
	}
	return ""
}
