// Command kopia builds the kopia CLI at the exact version quiesce uses as a
// library (v0.22.3), for `make bench-fs` to compare against. It wires kopia's
// cli app as kopia's own main.go does, minus its internal log-file setup
// (an internal package, not importable here).
package main

import (
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/kopia/kopia/cli"
	"github.com/kopia/kopia/repo"
)

func main() {
	app := cli.NewApp()
	kp := kingpin.New("kopia", "Kopia CLI built for quiesce's benchmark")
	kp.Version(repo.BuildVersion + " build: " + repo.BuildInfo)
	kp.ErrorWriter(os.Stderr)
	kp.UsageWriter(os.Stdout)
	app.Attach(kp)
	kingpin.MustParse(kp.Parse(os.Args[1:]))
}
