// Command quiesce is the single binary of quiesce: the node agent, the
// coordinator and the user commands are its subcommands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "quiesce:", err)
		os.Exit(1)
	}
}
