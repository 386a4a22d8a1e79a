package app

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags ahead of its arguments, so
// `ws lock bump flux --to v2.10.0 --dry-run` works: urfave/cli v2 stops
// reading flags at the first argument. Everything after "--" is left alone.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	commands, flags := app.Commands, app.Flags
	i := 1
	// Walk down the command path, keeping each level's flags in place.
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if isFlag(a) {
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		cmd := findCommand(commands, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		if cmd.Name == "exec" || cmd.Name == "shim" {
			// exec's arguments are a command line: its flags are its own.
			return append(out, args[i+1:]...)
		}
		commands, flags = cmd.Subcommands, cmd.Flags
		i++
	}
	var flagArgs, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if isFlag(a) {
			flagArgs = append(flagArgs, a)
			if takesValue(flags, a) && i+1 < len(args) {
				flagArgs = append(flagArgs, args[i+1])
				i++
			}
			continue
		}
		positional = append(positional, a)
	}
	out = append(out, flagArgs...)
	out = append(out, positional...)
	return append(out, args[i:]...)
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				tv, ok := f.(interface{ TakesValue() bool })
				return ok && tv.TakesValue()
			}
		}
	}
	return false
}
