package app

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Bash and zsh ask the binary itself for candidates through urfave/cli's
// hidden --generate-bash-completion flag, so completion follows the
// commands of whichever ws is installed.
const bashCompletion = `# ws bash completion: source <(ws completion bash)
_ws_complete() {
  local cur opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  opts=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:$COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
}
complete -o bashdefault -o default -F _ws_complete ws
`

const zshCompletion = `#compdef ws
# ws zsh completion: source <(ws completion zsh)
_ws() {
  local -a opts
  opts=("${(@f)$(${words[1]} ${words[@]:1:$CURRENT-2} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts
}
compdef _ws ws
`

func newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:         "completion",
		Usage:        "print a shell completion script (bash, zsh or fish)",
		ArgsUsage:    "bash|zsh|fish",
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.App.Writer, s)
				return err
			}
			return withHint(fmt.Errorf("completion: want bash, zsh or fish, got %q", c.Args().First()), "source <(ws completion bash)")
		},
	}
}
