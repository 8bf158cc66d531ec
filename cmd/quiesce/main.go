// Command quiesce is the single binary of quiesce: the node agent, the
// coordinator and the user commands are its subcommands. Installed as
// kubectl-quiesce, it is also the kubectl plugin `kubectl quiesce`.
package main

import (
	"fmt"
	"os"
)

func main() {
	applyMemoryLimit()
	root := newRootCommand()
	root.SetArgs(asPlugin(root, os.Args[0], os.Args[1:]))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "quiesce:", err)
		os.Exit(1)
	}
}
