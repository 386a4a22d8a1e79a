package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/build"
	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/engine"
	"github.com/ws-tools/ws/launcher/hostkeys"
	"github.com/ws-tools/ws/launcher/secrets"
)

type doctorOptions struct {
	json  bool
	trust bool
}

func newDoctorCommand(e *Env) *cli.Command {
	var o doctorOptions
	return &cli.Command{
		Name:         "doctor",
		Usage:        "check what ws needs, before anything runs: Docker, BuildKit, the lock, the GPG agent, pinentry, each secret",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON", Destination: &o.json},
			&cli.BoolFlag{Name: "trust", Usage: "trust this workspace for this run only (also " + plan.EnvTrust + "=1)", Destination: &o.trust},
		},
		Action: func(c *cli.Context) error { return runDoctor(c.Context, e, o) },
	}
}

// check is one line of the doctor's table; its JSON is a public interface.
type check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// doctorError is the verdict: some checks failed.
type doctorError struct{ failed int }

func (d *doctorError) Error() string     { return fmt.Sprintf("%d checks failed", d.failed) }
func (d *doctorError) CheckFailed() bool { return true }
func (d *doctorError) Hint() string      { return "each failed check above says what to do" }

func runDoctor(ctx context.Context, e *Env, o doctorOptions) error {
	var checks []check
	add := func(name string, err error, detail string) {
		c := check{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			c.Detail = err.Error()
			var h hinter
			if errors.As(err, &h) {
				c.Hint = h.Hint()
			}
		}
		checks = append(checks, c)
	}

	l, path, err := loadLock(e)
	lockDetail := fmt.Sprintf("%s: valid", path)
	if l != nil && l.Base.Floating() {
		lockDetail += "; warning: its Debian packages float with the mirror (pin them: base.snapshot, then ws lock bump packages)"
	}
	add("tools.lock", err, lockDetail)
	var p *launcher.Plan
	if l != nil {
		// The plan of a plain `ws enter`: the checks below are about what
		// that run would use. Decrypting is among them, so an untrusted
		// workspace stops here.
		pl, err := makePlan(ctx, e, l, path, runOptions{trust: o.trust}, nil, false)
		var ue *plan.UntrustedError
		var oe *plan.OwnerError
		if errors.As(err, &ue) || errors.As(err, &oe) {
			return err
		}
		if err != nil {
			add("workspace", err, "")
		} else {
			p = &pl
		}
	}
	if ep, err := e.Endpoint(); err != nil {
		add("engine", err, "")
	} else {
		host := ep.Host
		if host == "" {
			host = "the default socket"
		}
		add("engine", nil, fmt.Sprintf("Docker context %s (%s): %s", ep.Context, ep.Why, host))
	}
	docker, err := e.Docker()
	var apiVersion string
	if err == nil {
		v, perr := docker.ServerVersion(ctx)
		if perr != nil {
			err = &engine.DaemonError{Err: perr}
		} else {
			apiVersion = v.APIVersion
			add("docker", nil, fmt.Sprintf("Docker %s (API %s)", v.Version, v.APIVersion))
		}
	}
	if err != nil {
		add("docker", err, "")
	} else {
		// Ask the builder ws would use, so "ok" means it answered (Probe
		// also says when the daemon is too old for its BuildKit).
		target, perr := e.target(builderFromEnv(e.Getenv))
		detail := ""
		if perr == nil {
			detail, perr = (&build.Builder{Engine: docker}).Probe(ctx, target)
		}
		add("buildkit", perr, detail)
	}
	if p != nil && docker != nil && apiVersion != "" {
		exists, xerr := (&build.Builder{Engine: docker}).Exists(ctx, p.Image)
		detail := p.Image + " present"
		if xerr == nil && !exists {
			detail = p.Image + " not built yet (ws build, or the first ws enter, makes it)"
		}
		add("image", xerr, detail)
	}
	gpg := launcher.GPGPlan{Forward: true}
	if p != nil {
		gpg = p.GPG
	} else if ep, err := e.Endpoint(); err == nil {
		if local, _ := engine.OnThisHost(runtime.GOOS, ep.Host); !local {
			gpg.Stream = true
		}
	}
	var fps []string
	root := ""
	if p != nil {
		fps, root = secrets.PGPRecipients(p.Root, p.Secrets), p.Root
	}
	fwd, gerr := launcher.PrepareGPG(ctx, gpg, root, fps)
	var nf *launcher.NoForwardError
	switch {
	case gerr == nil:
		add("gpg agent", nil, relayDetail(fwd, fps, gpg.Stream))
	case errors.As(gerr, &nf) && gpg.ByUser:
		add("gpg agent", nil, "relay off (--no-gpg)")
	default:
		add("gpg agent", withHint(gerr, "start it with gpgconf --launch gpg-agent, or use --no-gpg"), "")
	}
	if p != nil {
		pinentryTerminal(e)
		if len(fps) > 0 {
			detail, problem := hostkeys.Pinentry(ctx, fps)
			var err error
			if problem != nil {
				err = problem
			}
			add("pinentry", err, detail)
		}
		for _, s := range p.Secrets {
			got, _, err := secrets.Decrypt(p.Root, []launcher.Secret{s})
			switch {
			case err != nil:
				add("secret "+s.File, err, "")
			case len(got) == 0:
				add("secret "+s.File, nil, "absent (optional)")
			default:
				add("secret "+s.File, nil, fmt.Sprintf("decrypts on this host; %s=%s", s.Env, s.Path()))
			}
		}
	}

	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if o.json {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
		for _, c := range checks {
			status := "ok"
			if !c.OK {
				status = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, status, c.Detail)
			if c.Hint != "" {
				fmt.Fprintf(tw, "\t\thint: %s\n", c.Hint)
			}
		}
		tw.Flush()
	}
	if failed > 0 {
		return &doctorError{failed: failed}
	}
	return nil
}

// relayDetail says how the agent reaches the workspace and what ws's relay
// lets through.
func relayDetail(fwd *launcher.GPGForward, fps []string, stream bool) string {
	mode := "local socket"
	if stream {
		mode = "Engine API stream (the engine is not on this host)"
	}
	d := "relay: " + mode + " to " + fwd.AgentSocket + "; "
	switch {
	case len(fwd.Policy.Decrypt) > 0:
		d += fmt.Sprintf("decrypts with %d key(s) of %s", len(fwd.Policy.Decrypt), strings.Join(fps, ", "))
	case len(fps) > 0:
		d += "no key of " + strings.Join(fps, ", ") + " is in your keyring: nothing decrypts"
	default:
		d += "decrypts nothing (no secret is PGP-encrypted)"
	}
	if fwd.Signer != "" {
		d += "; signs with " + fwd.Signer
	} else {
		d += "; signing blocked"
	}
	return d
}
