package app

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
)

func newPsCommand(e *Env) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:         "ps",
		Usage:        "list the kept workspace containers: repository, image, age, idle time, commands running",
		OnUsageError: usageError,
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			docker, err := e.Docker()
			if err != nil {
				return err
			}
			list, err := (&launcher.Launcher{Docker: docker}).ListKept(c.Context, "")
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Repository string `json:"repository"`
					Image      string `json:"image"`
					AgeSeconds int    `json:"age_seconds"`
					IdleSecond int    `json:"idle_seconds"`
					Running    int    `json:"commands_running"`
				}
				rows := []row{}
				for _, k := range list {
					rows = append(rows, row{k.Root, k.Image, int(time.Since(k.Created).Seconds()), int(k.Idle.Seconds()), k.Running})
				}
				return json.NewEncoder(e.Stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tIMAGE\tAGE\tIDLE\tRUNNING")
			for _, k := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", k.Root, k.Image, time.Since(k.Created).Round(time.Second), k.Idle, k.Running)
			}
			return tw.Flush()
		},
	}
}

func newStopCommand(e *Env) *cli.Command {
	var all bool
	return &cli.Command{
		Name:         "stop",
		Usage:        "end this workspace's kept container now (its decrypted credentials go with it)",
		OnUsageError: usageError,
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "every kept workspace of yours on this engine", Destination: &all}},
		Action: func(c *cli.Context) error {
			root := ""
			if !all {
				var err error
				if root, err = lock.FindRoot(e.Dir); err != nil {
					return err
				}
			}
			docker, err := e.Docker()
			if err != nil {
				return err
			}
			n, err := (&launcher.Launcher{Docker: docker}).StopKept(c.Context, root)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stderr, "stopped %d workspace container(s)\n", n)
			return nil
		},
	}
}
