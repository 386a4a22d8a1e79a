// Command ws runs a repository's pinned cluster tools in a container.
package main

import (
	"context"
	"os"

	"github.com/ws-tools/ws/cmd/app"
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
