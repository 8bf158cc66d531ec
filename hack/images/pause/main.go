// Command pause is the sandbox ("pause") container of the local e2e cluster:
// no image can be pulled there, so the project builds its own. It holds the
// pod's namespaces open, reaps zombies (it is PID 1 when the pod shares its
// PID namespace) and exits 0 on SIGINT or SIGTERM, like the upstream pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
