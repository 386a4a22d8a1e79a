package build

import (
	"context"
	"fmt"
	"net"

	"github.com/docker/docker/api/types/versions"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"

	"github.com/ws-tools/ws/images/credentials"
)

// buildkit is the real Solver: a BuildKit client, either through the
// engine's /grpc and /session endpoints or to a standalone buildkitd. Each
// solve's session carries the registry logins, so the builder pulls a
// private base image by asking ws for a token.
type buildkit struct {
	c     *bkclient.Client
	creds *credentials.Store
}

// dialBuildKit connects to t's BuildKit.
func dialBuildKit(ctx context.Context, e Engine, t Target, creds *credentials.Store) (Solver, error) {
	if !t.Engine() {
		c, err := bkclient.New(ctx, t.Addr, t.clientOpts()...)
		if err != nil {
			return nil, &BuilderError{Target: t, Err: err}
		}
		return buildkit{c, creds}, nil
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
	return buildkit{c, creds}, nil
}

func (b buildkit) Solve(ctx context.Context, def *llb.Definition, config ImageConfig, export bkclient.ExportEntry, status chan *bkclient.SolveStatus) error {
	opt := bkclient.SolveOpt{
		Exports: []bkclient.ExportEntry{export},
		Session: []session.Attachable{b.creds.Session()},
	}
	_, err := b.c.Build(ctx, opt, "ws", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		r, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, err
		}
		imageConfig := config.Static
		if config.FromBase != nil {
			_, _, base, err := gw.ResolveImageConfig(ctx, config.Base, sourceresolver.Opt{
				ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &config.Platform},
			})
			if err != nil {
				return nil, fmt.Errorf("resolve the config of %s: %w", config.Base, err)
			}
			if imageConfig, err = config.FromBase(base); err != nil {
				return nil, err
			}
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
