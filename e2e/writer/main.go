// Command writer is the e2e application with no shell: from a scratch
// image it appends one numbered, timestamped line to a file every few
// milliseconds, so a copy of the file taken while it was paused is a
// complete prefix of what it wrote, and a pause shows as a gap in time.
//
//	writer FILE [INTERVAL]
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: writer FILE [INTERVAL]")
		os.Exit(2)
	}
	every := 5 * time.Millisecond
	if len(os.Args) > 2 {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "writer: interval:", err)
			os.Exit(2)
		}
		every = d
	}
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
	for seq := 1; ; seq++ {
		// One write per line: the line is whole or absent in any copy.
		if _, err := fmt.Fprintf(f, "%09d %d\n", seq, time.Now().UnixNano()); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		time.Sleep(every)
	}
}
