package entrypoint

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The script must parse as POSIX sh (dash is Debian's /bin/sh); its
// behaviour is tested end to end in cmd/e2e.
func TestScriptParses(t *testing.T) {
	t.Parallel()
	ran := 0
	for _, sh := range []string{"dash", "sh"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		ran++
		cmd := exec.Command(sh, "-n", "/dev/stdin")
		cmd.Stdin = bytes.NewReader(Script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s -n: %v\n%s", sh, err, out)
		}
	}
	if ran == 0 {
		t.Fatal("no POSIX shell (dash or sh) on PATH to check the script with")
	}
}

// The script is the other half of the contract in this package: it must
// use the very paths, markers, names and tar flags ws uses.
func TestScriptUsesTheContract(t *testing.T) {
	t.Parallel()
	script := string(Script)
	literals := []string{
		SecretsDir, DeliverPipe, SecretsDir + "/" + ReadyMarker, SumsFile, DockerInit,
		EnvUID, EnvGID, EnvUser, EnvHome, EnvDelivery, EnvSecrets, EnvReadOnly, EnvFail, EnvKillGroup,
		EnvKeep, EnvExec, ExecDir, IdleFile, ReadyLine,
		DeliveryPipe + ")", DeliveryExec + ")",
		strings.Join(TarExtract, " "),
	}
	for _, want := range literals {
		if !strings.Contains(script, want) {
			t.Errorf("entrypoint.sh does not use %q", want)
		}
	}
}

func TestReservedEnv(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"WS_UID": true, "WS_ANYTHING": true, "LD_PRELOAD": true, "LD_LIBRARY_PATH": true,
		"HOME": true, "PATH": true, "GNUPGHOME": true, "TINI_KILL_PROCESS_GROUP": true,
		"KUBECONFIG": false, "EDITOR": false, "OLD_PATH": false, "WSX": false,
	} {
		if got := IsReservedEnv(name); got != want {
			t.Errorf("IsReservedEnv(%q) = %v, want %v", name, got, want)
		}
	}
}
