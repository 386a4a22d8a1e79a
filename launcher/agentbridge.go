package launcher

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/launcher/gpgrelay"
)

// Frame types of the agent bridge (entrypoint.AgentBridge).
const (
	frameListening = 'L'
	frameOpen      = 'O'
	frameData      = 'D'
	frameClose     = 'C'
)

// bridgeAgent runs the agent bridge in container id as the caller and
// serves each connection it carries with the relay, for an engine whose
// host cannot bind-mount the relay's socket. It returns once the bridge
// listens; stop ends it (closing its stdin, so it removes its socket).
func (l *Launcher) bridgeAgent(ctx context.Context, id string, u entrypointUser, relay *gpgrelay.Relay) (stop func(), err error) {
	ex, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:        fmt.Sprintf("%d:%d", u.UID, u.GID),
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Cmd: []string{"perl", "-e", entrypoint.AgentBridge, entrypoint.AgentDir + "/" + gpgrelay.SocketName},
	})
	if err != nil {
		return nil, fmt.Errorf("start the GPG agent bridge: %w", err)
	}
	att, err := l.Docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("start the GPG agent bridge: %w", err)
	}
	out, outW := io.Pipe()
	var stderr strings.Builder
	go func() {
		_, err := stdcopy.StdCopy(outW, &stderr, att.Reader)
		outW.CloseWithError(err)
	}()
	b := &bridge{w: att.Conn, conns: map[uint32]net.Conn{}, relay: relay, log: l.debug}
	frames := bufio.NewReader(out)
	listening := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := b.run(frames, listening)
		select {
		case listening <- err: // it ended before it listened
		default:
		}
	}()
	select {
	case err := <-listening:
		if err != nil {
			att.Close()
			return nil, fmt.Errorf("the GPG agent bridge did not start: %v %s", err, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(15 * time.Second):
		att.Close()
		return nil, errors.New("the GPG agent bridge did not start within 15s")
	}
	l.debug("GPG agent bridge listening", "container", id[:12])
	return func() {
		att.CloseWrite() //nolint:errcheck // the bridge sees EOF and removes its socket
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		att.Close()
		b.closeAll()
	}, nil
}

// entrypointUser is the part of the plan's user the bridge runs as.
type entrypointUser = entrypoint.User

// bridge demultiplexes the bridge's connections onto the relay.
type bridge struct {
	mu    sync.Mutex // guards w and conns
	w     io.Writer
	conns map[uint32]net.Conn
	relay *gpgrelay.Relay
	log   func(string, ...any)
}

// run reads frames until the bridge ends; it sends nil on listening once
// the bridge says it listens.
func (b *bridge) run(r *bufio.Reader, listening chan<- error) error {
	var head [9]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return err
		}
		id, n := binary.BigEndian.Uint32(head[1:5]), binary.BigEndian.Uint32(head[5:9])
		if n > 1<<20 {
			return fmt.Errorf("agent bridge frame of %d bytes", n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		switch head[0] {
		case frameListening:
			listening <- nil
		case frameOpen:
			ours, theirs := net.Pipe()
			b.mu.Lock()
			b.conns[id] = ours
			b.mu.Unlock()
			go b.relay.Serve(theirs)
			go b.pump(id, ours)
		case frameData:
			b.mu.Lock()
			c := b.conns[id]
			b.mu.Unlock()
			if c != nil {
				// The relay reads a request at a time; a client that has
				// hung up must not stall the other connections.
				c.SetWriteDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck // a pipe supports deadlines
				if _, err := c.Write(data); err != nil {
					b.drop(id)
				}
			}
		case frameClose:
			b.drop(id)
		}
	}
}

// pump sends what the relay answers on one connection to the bridge.
func (b *bridge) pump(id uint32, c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			b.send(frameData, id, buf[:n])
		}
		if err != nil {
			b.send(frameClose, id, nil)
			b.drop(id)
			return
		}
	}
}

func (b *bridge) send(t byte, id uint32, data []byte) {
	frame := make([]byte, 9+len(data))
	frame[0] = t
	binary.BigEndian.PutUint32(frame[1:5], id)
	binary.BigEndian.PutUint32(frame[5:9], uint32(len(data)))
	copy(frame[9:], data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.w.Write(frame) //nolint:errcheck // a gone bridge ends run
}

func (b *bridge) drop(id uint32) {
	b.mu.Lock()
	c := b.conns[id]
	delete(b.conns, id)
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (b *bridge) closeAll() {
	b.mu.Lock()
	conns := b.conns
	b.conns = map[uint32]net.Conn{}
	b.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
