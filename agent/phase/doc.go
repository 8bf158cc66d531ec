// Package phase is the per-pod backup state machine of the agent, in the style
// of etcd's raft: it decides and never acts. Step takes an event (a hook phase
// finished, the capture finished, a clock tick) and returns the actions the
// caller must carry out (persist the phase, run hooks, start or cancel the
// capture, upload). It does no I/O, reads no clock and starts no goroutine, so
// every path from Pending through Frozen to Done, deadlines and restarts
// included, is tested as a table.
//
// The invariant the agent exists for: a pod whose pre-hooks started is thawed
// (its post-hooks run) exactly once, whatever fails, and only after its
// capture has finished or the freeze deadline has passed.
package phase
