// Package app is the ws command line: one file per command, each parsing
// its flags, calling the packages that do the work (cmd/plan for a run's
// plan, images/ for the lock and the image, launcher/ for the container)
// and printing the result. Exit codes and hints are decided here, in one
// table (errors.go).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/launcher"
)

// Main runs ws with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, newEnv(stdin, stdout, stderr), args)
}

func run(ctx context.Context, e *Env, args []string) int {
	app := newApp(e)
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		return exitOK
	}
	var ee *launcher.ExitError
	if !errors.As(err, &ee) { // the command has said what it had to say
		printError(e.Stderr, err)
	}
	return exitCode(err)
}

type globalOptions struct {
	dir   string
	debug bool
}

func newApp(e *Env) *cli.App {
	var g globalOptions
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, buildInfo()) }
	return &cli.App{
		Name:                  "ws",
		Usage:                 "run this repository's pinned cluster tools in a container",
		Version:               version,
		Reader:                e.Stdin,
		Writer:                e.Stdout,
		ErrWriter:             e.Stderr,
		EnableBashCompletion:  true,
		HideHelpCommand:       true,
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitCodesHelp + "\n",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "run as if ws was started in `DIR`", Destination: &g.dir},
			&cli.BoolFlag{Name: "debug", Usage: "log details to stderr", Destination: &g.debug},
			&cli.StringFlag{Name: "context", Usage: "the Docker context `NAME` to use (as docker --context; default: DOCKER_HOST, DOCKER_CONTEXT, then docker context use)", Destination: &e.Context},
		},
		Before: func(*cli.Context) error {
			if g.dir != "" {
				if filepath.IsAbs(g.dir) {
					e.Dir = g.dir
				} else {
					e.Dir = filepath.Join(e.Dir, g.dir)
				}
			}
			if g.debug {
				e.Log = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			return nil
		},
		OnUsageError:   usageError,
		Action:         unknownCommand,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are Main's job
		Commands: []*cli.Command{
			newEnterCommand(e),
			newExecCommand(e),
			newBuildCommand(e),
			newDoctorCommand(e),
			newPsCommand(e),
			newShimsCommand(e),
			newShimCommand(e),
			newStopCommand(e),
			newTrustCommand(e),
			newUntrustCommand(e),
			newLockCommand(e),
			newCompletionCommand(),
		},
	}
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := "ws"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName
	}
	return withHint(err, "see %s --help", name)
}

// unknownCommand is the Action of commands that only group subcommands:
// urfave/cli runs it when no subcommand matched.
func unknownCommand(c *cli.Context) error {
	if c.Args().Present() {
		name := "ws"
		if c.Command != nil && c.Command.HelpName != "" {
			name = c.Command.HelpName
		}
		return withHint(fmt.Errorf("unknown command %q", c.Args().First()), "see %s --help", name)
	}
	if c.Command != nil && c.Command.Name != c.App.Name && len(c.Command.Subcommands) > 0 {
		return cli.ShowSubcommandHelp(c)
	}
	return cli.ShowAppHelp(c)
}
