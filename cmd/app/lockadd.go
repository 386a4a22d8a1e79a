package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/images/add"
	"github.com/ws-tools/ws/images/bump"
	"github.com/ws-tools/ws/images/fetch"
	"github.com/ws-tools/ws/images/lock"
)

type lockAddOptions struct {
	add.Options
	url       string
	dryRun    bool
	json      bool
	githubAPI string
}

func newLockAddCommand(e *Env) *cli.Command {
	var o lockAddOptions
	return &cli.Command{
		Name:      "add",
		Usage:     "pin a new tool from its release: URL template, archive member, every platform's sha256",
		ArgsUsage: "github:OWNER/REPO | NAME --url TEMPLATE --version V",
		Description: "From a GitHub release (the newest stable one, or --version), ws finds the one\n" +
			"asset that fits each of the lock's platforms (OS and architecture spelled any\n" +
			"common way; no checksums, signatures, packages or other OSes), writes a URL\n" +
			"template that gives back each asset's exact name, finds the executable in an\n" +
			"archive, pins every sha256 (checked against GitHub's asset digests), downloads\n" +
			"and verifies every artifact, and adds the tool at the end of tools.lock,\n" +
			"atomically. Two assets that fit equally, or none, is an error listing the\n" +
			"candidates: choose with --asset. Elsewhere than GitHub: NAME --url TEMPLATE\n" +
			"--version V downloads each platform once and pins its sha256.",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the tool's `NAME` in tools.lock (default: the executable's)", Destination: &o.Name},
			&cli.StringFlag{Name: "version", Usage: "the release `TAG` (default: the newest stable)", Destination: &o.Version},
			&cli.StringFlag{Name: "bin", Usage: "the executable to install from an archive", Destination: &o.Bin},
			&cli.StringFlag{Name: "asset", Usage: "a `GLOB` the asset's name must match, to settle a choice", Destination: &o.Asset},
			&cli.StringFlag{Name: "url", Usage: "a URL `TEMPLATE` ({{.Version}}, {{.OS}}, {{.Arch}}) for a tool published outside GitHub", Destination: &o.url},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the diff; write nothing", Destination: &o.dryRun},
			&cli.BoolFlag{Name: "json", Usage: "print the added tool as JSON", Destination: &o.json},
			&cli.StringFlag{Name: "github-api", Usage: "GitHub API root `URL` (GitHub Enterprise)", EnvVars: []string{EnvGitHubAPI}, Value: bump.DefaultGitHubAPI, Destination: &o.githubAPI},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return withHint(errors.New("lock add: name one tool source"), "ws lock add github:derailed/k9s, or ws lock add NAME --url TEMPLATE --version V")
			}
			return runLockAdd(c.Context, e, o, c.Args().First())
		},
	}
}

// addJSON is the --json shape; its field names are a public interface.
type addJSON struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	URL     string            `json:"url"`
	Extract string            `json:"extract,omitempty"`
	Assets  map[string]string `json:"assets"`
	SHA256  map[string]string `json:"sha256"`
	Sources map[string]string `json:"checksum_sources"`
	Written bool              `json:"written"`
	Notes   []string          `json:"notes,omitempty"`
}

func runLockAdd(ctx context.Context, e *Env, o lockAddOptions, source string) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	a := &add.Adder{
		GitHub:   &bump.GitHub{Client: e.HTTP, BaseURL: o.githubAPI, Token: e.Getenv(EnvGitHubToken)},
		Checker:  &fetch.Checker{Client: e.HTTP, Parallel: 4},
		Progress: func(s string) { fmt.Fprintln(e.Stderr, s) },
	}
	var res *add.Result
	switch repo, ok := strings.CutPrefix(source, "github:"); {
	case ok:
		if strings.Count(repo, "/") != 1 || o.url != "" {
			return withHint(fmt.Errorf("lock add: %q is not github:OWNER/REPO", source), "ws lock add github:derailed/k9s")
		}
		res, err = a.FromGitHub(ctx, l, repo, o.Options)
	case o.url != "":
		if o.Version == "" {
			return withHint(errors.New("lock add --url needs --version"), "ws lock add terraform --url 'https://releases.hashicorp.com/terraform/{{trimV .Version}}/terraform_{{trimV .Version}}_{{.OS}}_{{.Arch}}.zip' --version v1.9.8")
		}
		res, err = a.FromURL(ctx, l, source, o.url, o.Version, o.Options)
	default:
		return withHint(fmt.Errorf("lock add: %q is neither github:OWNER/REPO nor a name with --url", source), "ws lock add github:derailed/k9s")
	}
	if err != nil {
		return err
	}
	next, err := l.WithTool(res.Tool)
	if err != nil {
		return err
	}
	before, _ := l.Bytes()
	after, _ := next.Bytes()
	written := false
	if !o.dryRun {
		if written, err = next.WriteFile(path); err != nil {
			return err
		}
		keepTrust(e, filepath.Dir(path), l.Reach(), next.Reach())
	}
	if o.json {
		j := addJSON{Name: res.Tool.Name, Version: res.Tool.Version, URL: res.Tool.URL, Extract: res.Tool.Extract,
			Assets: map[string]string{}, SHA256: map[string]string{}, Sources: map[string]string{}, Written: written, Notes: res.Notes}
		for p, v := range res.Assets {
			j.Assets[p.String()] = v
			j.SHA256[p.String()] = res.Tool.SHA256[p]
			j.Sources[p.String()] = res.Sources[p]
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	if o.dryRun {
		fmt.Fprint(e.Stdout, lock.Diff(lock.FileName, before, after))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(e.Stderr, "ws: note: %s\n", n)
	}
	if written {
		fmt.Fprintf(e.Stderr, "added %s %s to tools.lock (%d platforms, every artifact downloaded and checked)\n", res.Tool.Name, res.Tool.Version, len(res.Assets))
	}
	return nil
}

func newLockRemoveCommand(e *Env) *cli.Command {
	return &cli.Command{
		Name:         "remove",
		Usage:        "remove a tool from tools.lock, leaving every other line as it is",
		ArgsUsage:    "TOOL",
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return withHint(errors.New("lock remove: name one tool"), "ws lock list shows the tools")
			}
			l, path, err := loadLock(e)
			if err != nil {
				return err
			}
			next, err := l.WithoutTool(c.Args().First())
			if err != nil {
				return err
			}
			if _, err := next.WriteFile(path); err != nil {
				return err
			}
			fmt.Fprintf(e.Stderr, "removed %s from tools.lock\n", c.Args().First())
			return nil
		},
	}
}
