package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-tools/ws/entrypoint"
)

func TestArchiveIsTheCallersWithTheMarkerLast(t *testing.T) {
	t.Parallel()
	data := archive(entrypoint.User{UID: 1500, GID: 20}, []File{{Name: "gnupg", Dir: true}, {Name: "./kubeconfig", Data: []byte("k")}}, true)
	tr := tar.NewReader(bytes.NewReader(data))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 1500 || h.Gid != 20 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		got = append(got, h.Name+" "+os.FileMode(h.Mode).String())
	}
	want := "gnupg -rwx------,kubeconfig -rw-------,.ready -rw-------"
	if strings.Join(got, ",") != want {
		t.Fatalf("entries %v, want %s", got, want)
	}
}

func TestFIFOSendsToItsReader(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	f, err := newFIFO()
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	if st, _ := os.Stat(f.dir); st.Mode().Perm() != 0o700 {
		t.Errorf("FIFO directory mode %v, want 0700", st.Mode().Perm())
	}
	got := make(chan []byte)
	go func() {
		r, err := os.Open(f.path) // blocks until send opens it, as the entrypoint's tar does
		if err != nil {
			got <- nil
			return
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		got <- b
	}()
	payload := bytes.Repeat([]byte("secret"), 50000) // more than a pipe buffer holds
	if err := f.send(context.Background(), payload, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("the reader got %d bytes, want %d", len(b), len(payload))
	}
}

// A container that ends before reading must not leave ws waiting.
func TestFIFOSendGivesUpWhenTheWorkspaceEnded(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	f, err := newFIFO()
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	exited := make(chan struct{})
	close(exited)
	if err := f.send(context.Background(), []byte("x"), exited); err == nil || !strings.Contains(err.Error(), "ended before reading") {
		t.Fatalf("send with no reader after exit: %v", err)
	}
}

func TestStaleFIFOsOfDeadProcessesAreRemoved(t *testing.T) {
	parent := t.TempDir()
	dead := filepath.Join(parent, "ws-deliver-999999999-abc")
	alive := filepath.Join(parent, "ws-deliver-1-abc") // init never dies
	for _, d := range []string{dead, alive} {
		os.Mkdir(d, 0o700)
	}
	removeStaleFIFOs(parent)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead process's directory is still there")
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("a live process's directory was removed")
	}
}
