package main

import (
	"os"
	"runtime/debug"
	"strconv"
)

// memoryLimitEnv carries the container's memory limit in bytes (the chart
// sets it from the downward API). The Go collector does not know the
// cgroup's limit: without a soft limit below it, the heap of a kopia open
// (the password's key derivation, the index) grows until the kernel kills
// the process instead of collecting.
const memoryLimitEnv = "QUIESCE_MEMORY_LIMIT"

// softMemoryLimit returns the Go soft memory limit for a container limit
// given in bytes: 85% of it, leaving room for what is not Go heap (stacks,
// mapped index files). 0 when there is none or GOMEMLIMIT is set.
func softMemoryLimit(limit, gomemlimit string) int64 {
	if gomemlimit != "" {
		return 0
	}
	n, err := strconv.ParseInt(limit, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n / 100 * 85
}

func applyMemoryLimit() {
	if n := softMemoryLimit(os.Getenv(memoryLimitEnv), os.Getenv("GOMEMLIMIT")); n > 0 {
		debug.SetMemoryLimit(n)
	}
}
