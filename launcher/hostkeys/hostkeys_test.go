package hostkeys

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/gpg", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// gnupgHome is a throwaway GNUPGHOME with the given fixture keys imported
// and its agent running; no terminal or display is known to pinentry.
func gnupgHome(t *testing.T, keys ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	home, err := os.MkdirTemp("", "ws-hk-") // short: agent socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	t.Setenv("GNUPGHOME", home)
	for _, v := range []string{"GPG_TTY", "DISPLAY", "WAYLAND_DISPLAY"} {
		t.Setenv(v, "")
	}
	for _, k := range keys {
		if out, err := exec.Command("gpg", "--batch", "--import", filepath.Join("../../testdata/gpg", k)).CombinedOutput(); err != nil {
			t.Fatalf("import %s: %v\n%s", k, err, out)
		}
	}
	return home
}

func TestPGPSaysWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	plain, protected := fixture(t, "key.fpr"), fixture(t, "passphrase-key.fpr")

	home := gnupgHome(t, "key.sec.asc", "passphrase-key.sec.asc")
	if p := PGP(ctx, []string{plain}); p != nil {
		t.Errorf("key without passphrase: %v", p)
	}
	if d, p := Pinentry(ctx, []string{plain}); p != nil || !strings.HasPrefix(d, "not needed") {
		t.Errorf("pinentry for the key without passphrase: %q %v", d, p)
	}
	if p := PGP(ctx, []string{"0000000000000000000000000000000000000000"}); p == nil || !strings.Contains(p.Msg, "no secret key of a recipient") || !strings.Contains(p.Fix, "gpg --import") {
		t.Errorf("unknown recipient: %+v", p)
	}
	p := PGP(ctx, []string{protected})
	if p == nil || !strings.Contains(p.Msg, "needs its passphrase and pinentry has nowhere to ask") || !strings.Contains(p.Fix, "GPG_TTY") {
		t.Errorf("passphrase key with no terminal: %+v", p)
	}
	t.Setenv("GPG_TTY", "/dev/pts/7")
	if d, p := Pinentry(ctx, []string{protected}); p != nil || !strings.Contains(d, "asks for the passphrase of "+protected) || !strings.HasSuffix(d, "on /dev/pts/7") {
		t.Errorf("pinentry with GPG_TTY: %q %v", d, p)
	}
	// Once the agent has the passphrase cached, no pinentry is needed.
	t.Setenv("GPG_TTY", "")
	cache := exec.Command("sh", "-c", `echo x | gpg --batch --trust-model always -e -r "$1" | gpg --batch --pinentry-mode loopback --passphrase "$2" -d`,
		"sh", protected, fixture(t, "passphrase-key.passphrase"))
	if out, err := cache.CombinedOutput(); err != nil {
		t.Fatalf("unlock the subkey: %v\n%s", err, out)
	}
	if d, p := Pinentry(ctx, []string{protected}); p != nil || !strings.HasPrefix(d, "not needed") {
		t.Errorf("pinentry with the passphrase cached: %q %v", d, p)
	}

	exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
	if p := PGP(ctx, []string{plain}); p == nil || p.Msg != "the gpg-agent is not running" {
		t.Errorf("stopped agent: %+v", p)
	}
}

func TestAgeSaysWhatIsMissing(t *testing.T) {
	mine, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	recipients := []string{mine.Recipient().String()}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_CMD", "")
	t.Setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "")

	t.Setenv("SOPS_AGE_KEY_FILE", "")
	if p := Age(recipients); p == nil || !strings.HasPrefix(p.Msg, "no age identity: SOPS_AGE_KEY and SOPS_AGE_KEY_FILE are unset and "+dir) {
		t.Errorf("nothing set: %+v", p)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(dir, "missing.txt"))
	if p := Age(recipients); p == nil || !strings.Contains(p.Msg, "missing.txt) cannot be read") {
		t.Errorf("missing file: %+v", p)
	}
	keys := filepath.Join(dir, "keys.txt")
	os.WriteFile(keys, []byte("# other\n"+other.String()+"\n"), 0o600)
	t.Setenv("SOPS_AGE_KEY_FILE", keys)
	if p := Age(recipients); p == nil || !strings.Contains(p.Msg, "is a recipient") {
		t.Errorf("another identity: %+v", p)
	}
	t.Setenv("SOPS_AGE_KEY", mine.String())
	if p := Age(recipients); p != nil {
		t.Errorf("the right identity in SOPS_AGE_KEY: %+v", p)
	}
}

func TestOnlyFingerprintsReachGPG(t *testing.T) {
	t.Parallel()
	got := fingerprintsOnly([]string{"--homedir=.g", "06D0331B26E86A8F9540405D14FCC29F941DBC2D", "06d0331b", strings.Repeat("ab", 32), "0x06D0331B26E86A8F9540405D14FCC29F941DBC"})
	if len(got) != 2 || got[0] != "06D0331B26E86A8F9540405D14FCC29F941DBC2D" {
		t.Fatalf("kept %q", got)
	}
	if p := PGP(context.Background(), []string{"--homedir=.g"}); p == nil || !strings.Contains(p.Msg, "not a valid") && !strings.Contains(p.Msg, "valid OpenPGP fingerprint") {
		t.Fatalf("PGP with only a fake fingerprint: %v", p)
	}
}

// gpg --with-colons --with-keygrip: the keygrips of the keys that can do
// the one thing asked, and the primary key's fingerprint.
func TestKeygripsByCapability(t *testing.T) {
	out := []byte(`sec:u:255:22:AAAAAAAAAAAAAAAA:1700000000:::u:::scESC:::+:::ed25519:::0:
fpr:::::::::1111111111111111111111111111111111111111:
grp:::::::::AAAA000000000000000000000000000000000001:
uid:u::::1700000000::X::Alice <alice@ws.test>::::::::::0:
ssb:u:255:18:BBBBBBBBBBBBBBBB:1700000000::::::e:::+:::cv25519::
fpr:::::::::2222222222222222222222222222222222222222:
grp:::::::::BBBB000000000000000000000000000000000002:
`)
	sign, fp := keygrips(out, "sec", "ssb", 's')
	if len(sign) != 1 || sign[0] != "AAAA000000000000000000000000000000000001" || fp != "1111111111111111111111111111111111111111" {
		t.Fatalf("signing: %v %s", sign, fp)
	}
	enc, _ := keygrips(out, "sec", "ssb", 'e')
	if len(enc) != 1 || enc[0] != "BBBB000000000000000000000000000000000002" {
		t.Fatalf("encryption: %v", enc)
	}
}
