package build

import (
	"context"
	"net"

	"github.com/docker/docker/api/types/versions"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// buildkit is the real Solver: a BuildKit client, either through the
// engine's /grpc and /session endpoints or to a standalone buildkitd.
type buildkit struct{ c *bkclient.Client }

// dialBuildKit connects to BuildKit at addr, or to the engine's own when
// addr is empty.
func dialBuildKit(ctx context.Context, e Engine, addr string) (Solver, error) {
	if addr != "" {
		c, err := bkclient.New(ctx, addr)
		if err != nil {
			return nil, &BuilderError{Addr: addr, Err: err}
		}
		return buildkit{c}, nil
	}
	e.NegotiateAPIVersion(ctx)
	if v := e.ClientVersion(); versions.LessThan(v, minAPIVersion) {
		return nil, &DaemonTooOldError{APIVersion: v}
	}
	c, err := bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return e.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return e.DialHijack(ctx, "/session", proto, meta)
		}),
	)
	if err != nil {
		return nil, &NoBuildKitError{Err: err}
	}
	return buildkit{c}, nil
}

func (b buildkit) Solve(ctx context.Context, def *llb.Definition, imageConfig []byte, export bkclient.ExportEntry, status chan *bkclient.SolveStatus) error {
	opt := bkclient.SolveOpt{Exports: []bkclient.ExportEntry{export}}
	_, err := b.c.Build(ctx, opt, "ws", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		r, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, err
		}
		r.AddMeta(exptypes.ExporterImageConfigKey, imageConfig)
		return r, nil
	}, status)
	return err
}

func (b buildkit) ListWorkers(ctx context.Context) ([]*bkclient.WorkerInfo, error) {
	return b.c.ListWorkers(ctx)
}

func (b buildkit) Close() error { return b.c.Close() }
