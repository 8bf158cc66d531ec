// Command flock is a minimal static flock(1) for test containers (Debian's
// busybox-static has no flock applet):
//
//	flock [-n] FILE -c COMMAND
//
// It takes an exclusive lock on FILE (with -n: fails with exit 1 if it is
// taken) and execs "sh -c COMMAND" with the lock's descriptor open, so the
// lock is held exactly as long as that command or a child of it lives.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	args := os.Args[1:]
	how := syscall.LOCK_EX
	if len(args) > 0 && args[0] == "-n" {
		how |= syscall.LOCK_NB
		args = args[1:]
	}
	if len(args) != 3 || args[1] != "-c" {
		fmt.Fprintln(os.Stderr, "usage: flock [-n] FILE -c COMMAND")
		os.Exit(2)
	}
	// No O_CLOEXEC: the descriptor, and with it the lock, survives exec.
	fd, err := syscall.Open(args[0], syscall.O_RDWR|syscall.O_CREAT, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flock:", err)
		os.Exit(1)
	}
	if err := syscall.Flock(fd, how); err != nil {
		fmt.Fprintln(os.Stderr, "flock:", args[0], err)
		os.Exit(1)
	}
	err = syscall.Exec("/bin/sh", []string{"sh", "-c", args[2]}, os.Environ())
	fmt.Fprintln(os.Stderr, "flock: exec sh:", err)
	os.Exit(1)
}
