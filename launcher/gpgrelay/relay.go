// Package gpgrelay is ws's filtering Assuan relay between the workspace and
// the caller's gpg-agent. The workspace's S.gpg-agent is the relay's
// socket; the relay passes on what gpg and sops need to decrypt with the
// workspace's own recipients' keys (options, info and key-availability
// queries, SETKEY and PKDECRYPT for those keygrips) and, by consent,
// signing with one key. Everything else — signing or decrypting with any
// other key, key import, export, generation, passphrase presetting — gets
// GnuPG's "Forbidden" error and is counted, so ws can say what it blocked.
//
// Upstream it talks to the agent's restricted ("extra") socket, so the
// agent's own restrictions still apply behind the relay's. Pinentry still
// asks on the host.
package gpgrelay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// SocketName is the relay's socket in its directory, as gpg looks for it
// in GNUPGHOME.
const SocketName = "S.gpg-agent"

// Assuan errors the relay answers with, as gpg-agent numbers them (source
// GPG_ERR_SOURCE_GPGAGENT=4 in the top byte).
const (
	errForbidden = "ERR 67109115 Forbidden <GPG Agent>"
	errNoAgent   = "ERR 67109133 No agent running <GPG Agent>"
)

// Policy is what the relay lets through, by keygrip (40 hex digits, as gpg
// --with-keygrip prints them).
type Policy struct {
	// Decrypt are the keygrips PKDECRYPT may use: the secrets' recipients.
	Decrypt []string
	// Sign are the keygrips PKSIGN may use: the signing key, by consent.
	Sign []string
}

// Kind names what a blocked request asked for, in ws's closing line.
type Kind string

const (
	Signing    Kind = "signing"
	Decryption Kind = "decryption"
	Other      Kind = "key management"
	// Probe is a smartcard query gpg makes on its own before signing or
	// decrypting (SCD SERIALNO…): refused, since the card daemon also signs
	// and decrypts, but not worth telling the user about.
	Probe Kind = "smartcard probe"
)

// Relay serves one socket until Close.
type Relay struct {
	dir, agent string
	policy     Policy
	log        *slog.Logger
	ln         net.Listener

	mu      sync.Mutex
	blocked map[Kind]int
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on dir/S.gpg-agent and relays to the agent socket. A
// socket left there by a ws that was killed is replaced; one another ws
// still serves is an error (the caller then knows the workspace is busy).
func Start(dir, agent string, policy Policy, log *slog.Logger) (*Relay, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dir, SocketName)
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another ws serves the GPG relay at %s", path)
	}
	os.Remove(path) // a stale socket from a killed ws
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("GPG relay: %w", err)
	}
	r := newRelay(agent, policy, log)
	r.dir, r.ln = dir, ln
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// NewStream is a relay without a socket of its own: it serves the
// connections handed to Serve (the workspace's, carried over an Engine API
// stream when the engine is not on this host).
func NewStream(agent string, policy Policy, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newRelay(agent, policy, log)
}

func newRelay(agent string, policy Policy, log *slog.Logger) *Relay {
	return &Relay{agent: agent, policy: policy, log: log, blocked: map[Kind]int{}, conns: map[net.Conn]struct{}{}}
}

// Serve relays one client connection until either side hangs up, and
// closes it.
func (r *Relay) Serve(c net.Conn) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.Close()
		return
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()
	r.serve(c)
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// Dir is the directory of the relay's socket ("" for a stream relay).
func (r *Relay) Dir() string { return r.dir }

// Path is the relay's socket.
func (r *Relay) Path() string { return filepath.Join(r.dir, SocketName) }

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		go r.Serve(c)
	}
}

// Close stops listening, ends open connections and removes the socket.
func (r *Relay) Close() {
	if r.ln != nil {
		r.ln.Close() // a unix listener removes its socket file
	}
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if r.ln != nil {
		os.Remove(r.Path())
	}
}

// Blocked counts what the relay refused, by kind.
func (r *Relay) Blocked() map[Kind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[Kind]int, len(r.blocked))
	for k, n := range r.blocked {
		out[k] = n
	}
	return out
}

// Summary is ws's closing line ("blocked 1 signing request from the
// workspace"), or "" when nothing was blocked.
func (r *Relay) Summary() string {
	b := r.Blocked()
	var parts []string
	for _, k := range []Kind{Signing, Decryption, Other} {
		if n := b[k]; n > 0 {
			s := "s"
			if n == 1 {
				s = ""
			}
			parts = append(parts, fmt.Sprintf("%d %s request%s", n, k, s))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "blocked " + strings.Join(parts, " and ") + " from the workspace (gpg-agent: only decryption for this workspace's recipients is allowed)"
}

// maxLine is Assuan's line limit (1000 bytes with the newline) with room.
const maxLine = 4096

// serve relays one client connection, a request at a time: a command
// from the client, then the agent's lines up to its OK or ERR, passing the
// client's data lines through while the agent inquires.
func (r *Relay) serve(client net.Conn) {
	agent, err := net.Dial("unix", r.agent)
	if err != nil {
		r.log.Debug("gpg relay: agent unreachable", "socket", r.agent, "err", err)
		fmt.Fprintf(client, "%s\n", errNoAgent)
		return
	}
	defer agent.Close()
	fromClient := bufio.NewReaderSize(client, maxLine)
	fromAgent := bufio.NewReaderSize(agent, maxLine)
	// The greeting.
	if err := relayResponse(fromAgent, agent, fromClient, client); err != nil {
		r.lost(client, err)
		return
	}
	s := &session{policy: r.policy}
	for {
		line, err := readLine(fromClient)
		if err != nil {
			return // the client hung up
		}
		if kind, count := s.check(line); kind != "" {
			r.block(kind, count, line)
			if _, err := fmt.Fprintf(client, "%s\n", errForbidden); err != nil {
				return
			}
			continue
		}
		if _, err := agent.Write(line); err != nil {
			r.lost(client, err)
			return
		}
		if err := relayResponse(fromAgent, agent, fromClient, client); err != nil {
			r.lost(client, err)
			return
		}
		if command(line) == "BYE" {
			return
		}
	}
}

// lost tells the client the agent went away mid-request.
func (r *Relay) lost(client net.Conn, err error) {
	if errors.Is(err, errClientGone) {
		return
	}
	r.log.Debug("gpg relay: lost the agent", "err", err)
	fmt.Fprintf(client, "%s\n", errNoAgent)
}

func (r *Relay) block(kind Kind, count bool, line []byte) {
	if count && kind != Probe {
		r.mu.Lock()
		r.blocked[kind]++
		r.mu.Unlock()
	}
	r.log.Debug("gpg relay: blocked", "kind", string(kind), "command", command(line))
}

var errClientGone = errors.New("the client hung up")

// relayResponse copies the agent's lines to the client until OK or ERR.
// While the agent inquires (INQUIRE), the client's D, END and CAN lines go
// back to it unfiltered: they are data for the command already allowed.
func relayResponse(fromAgent *bufio.Reader, agent net.Conn, fromClient *bufio.Reader, client net.Conn) error {
	for {
		line, err := readLine(fromAgent)
		if err != nil {
			return err
		}
		if _, err := client.Write(line); err != nil {
			return errClientGone
		}
		switch {
		case isFinal(line):
			return nil
		case strings.HasPrefix(string(line), "INQUIRE "):
			for {
				answer, err := readLine(fromClient)
				if err != nil {
					return errClientGone
				}
				if _, err := agent.Write(answer); err != nil {
					return err
				}
				if c := command(answer); c == "END" || c == "CAN" {
					break
				}
			}
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("assuan line too long")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return slices.Clone(line), nil
}

func isFinal(line []byte) bool {
	s := strings.TrimRight(string(line), "\r\n")
	return s == "OK" || strings.HasPrefix(s, "OK ") || s == "ERR" || strings.HasPrefix(s, "ERR ")
}

// command is a line's first word, upper-cased as Assuan compares them.
func command(line []byte) string {
	s := strings.TrimSpace(string(line))
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}
