package gpgrelay

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	ours  = "1111111111111111111111111111111111111111"
	other = "2222222222222222222222222222222222222222"
	sign  = "3333333333333333333333333333333333333333"
)

// fakeAgent answers like gpg-agent: a greeting, OK to most lines, an
// inquiry for PKDECRYPT, and hangs up on NOP (to lose it mid-command).
// It records the commands that reached it.
func fakeAgent(t *testing.T) (string, *[]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "S.agent")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var got []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in := bufio.NewReader(c)
				c.Write([]byte("OK Pleased to meet you\n"))
				for {
					line, err := in.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.Fields(line)[0]
					got = append(got, cmd)
					switch cmd {
					case "PKDECRYPT":
						c.Write([]byte("INQUIRE CIPHERTEXT\n"))
						d, _ := in.ReadString('\n')
						end, _ := in.ReadString('\n')
						if d != "D (enc-val)\n" || end != "END\n" {
							c.Write([]byte("ERR 1 bad inquiry answer\n"))
							continue
						}
						c.Write([]byte("S PADDING 0\nD (value plaintext)\nOK\n"))
					case "NOP": // dies mid-command
						c.Write([]byte("S PROGRESS\n"))
						return
					default:
						c.Write([]byte("OK\n"))
					}
				}
			}()
		}
	}()
	return path, &got
}

type client struct {
	t  *testing.T
	c  net.Conn
	in *bufio.Reader
}

func dial(t *testing.T, r *Relay) *client {
	t.Helper()
	c, err := net.Dial("unix", r.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t, c, bufio.NewReader(c)}
	if g := cl.read(); !strings.HasPrefix(g, "OK Pleased") {
		t.Fatalf("greeting %q", g)
	}
	return cl
}

func (c *client) read() string {
	c.t.Helper()
	l, err := c.in.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\n")
}

// send writes line and returns the response lines up to OK/ERR/INQUIRE.
func (c *client) send(line string) []string {
	c.t.Helper()
	c.c.Write([]byte(line + "\n"))
	var out []string
	for {
		l := c.read()
		out = append(out, l)
		if l == "OK" || strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR") || strings.HasPrefix(l, "INQUIRE") {
			return out
		}
	}
}

func TestRelayDecryptsOnlyWithTheRecipientsKeys(t *testing.T) {
	agent, got := fakeAgent(t)
	r, err := Start(t.TempDir(), agent, Policy{Decrypt: []string{ours}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := dial(t, r)
	for _, l := range []string{"OPTION ttyname=/dev/pts/0", "GETINFO version", "HAVEKEY " + ours + " " + other, "SETKEYDESC x"} {
		if resp := c.send(l); resp[len(resp)-1] != "OK" {
			t.Fatalf("%s: %v", l, resp)
		}
	}
	if resp := c.send("SETKEY " + strings.ToLower(ours)); resp[0] != "OK" {
		t.Fatalf("SETKEY ours: %v", resp)
	}
	if resp := c.send("PKDECRYPT"); resp[0] != "INQUIRE CIPHERTEXT" {
		t.Fatalf("PKDECRYPT: %v", resp)
	}
	c.c.Write([]byte("D (enc-val)\nEND\n"))
	if l := []string{c.read(), c.read(), c.read()}; l[1] != "D (value plaintext)" || l[2] != "OK" {
		t.Fatalf("decryption: %v", l)
	}
	// Another key: refused before the agent sees it, counted once though
	// gpg may send PKDECRYPT after the refused SETKEY.
	if resp := c.send("SETKEY " + other); resp[0] != errForbidden {
		t.Fatalf("SETKEY other: %v", resp)
	}
	if resp := c.send("PKDECRYPT"); resp[0] != errForbidden {
		t.Fatalf("PKDECRYPT after a refused SETKEY: %v", resp)
	}
	for _, l := range []string{"SCD SERIALNO", "SIGKEY " + sign, "PKSIGN", "PRESET_PASSPHRASE " + ours + " -1 00", "EXPORT_KEY " + ours, "IMPORT_KEY", "GENKEY", "PASSWD " + ours, "DELETE_KEY " + ours} {
		if resp := c.send(l); resp[0] != errForbidden {
			t.Fatalf("%s: %v", l, resp)
		}
	}
	b := r.Blocked()
	if b[Decryption] != 1 || b[Signing] != 1 || b[Other] != 6 {
		t.Fatalf("blocked %v", b)
	}
	if s := r.Summary(); !strings.HasPrefix(s, "blocked 1 signing request and 1 decryption request and 6 key management requests from the workspace") {
		t.Fatalf("summary %q", s)
	}
	for _, cmd := range *got {
		if cmd == "SIGKEY" || cmd == "PKSIGN" || cmd == "PRESET_PASSPHRASE" || cmd == "EXPORT_KEY" || cmd == "GENKEY" {
			t.Fatalf("%s reached the agent: %v", cmd, *got)
		}
	}
}

func TestRelaySignsOnlyWithTheConsentedKey(t *testing.T) {
	agent, _ := fakeAgent(t)
	r, err := Start(t.TempDir(), agent, Policy{Decrypt: []string{ours}, Sign: []string{sign}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := dial(t, r)
	if resp := c.send("SIGKEY " + sign); resp[0] != "OK" {
		t.Fatalf("SIGKEY: %v", resp)
	}
	if resp := c.send("PKSIGN"); resp[0] != "OK" {
		t.Fatalf("PKSIGN: %v", resp)
	}
	if resp := c.send("SIGKEY " + ours); resp[0] != errForbidden {
		t.Fatalf("SIGKEY with a decryption key: %v", resp)
	}
	if r.Summary() == "" {
		t.Fatal("nothing counted")
	}
}

// An agent that goes away mid-request: the client gets an error line, not
// a hang; Close leaves no socket.
func TestRelayLosesTheAgent(t *testing.T) {
	agent, _ := fakeAgent(t)
	dir := t.TempDir()
	r, err := Start(dir, agent, Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, r)
	c.c.Write([]byte("NOP\n"))
	if l := []string{c.read(), c.read()}; l[1] != errNoAgent {
		t.Fatalf("after the agent died: %v", l)
	}
	if _, err := Start(dir, agent, Policy{}, nil); err == nil {
		t.Fatal("a second relay took over a served socket")
	}
	r.Close()
	if _, err := os.Stat(filepath.Join(dir, SocketName)); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	// No agent at all.
	r2, err := Start(dir, filepath.Join(dir, "nothing"), Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	cl, _ := net.Dial("unix", r2.Path())
	defer cl.Close()
	if l, _ := bufio.NewReader(cl).ReadString('\n'); strings.TrimSpace(l) != errNoAgent {
		t.Fatalf("without an agent: %q", l)
	}
}
