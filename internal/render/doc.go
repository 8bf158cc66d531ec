// Package render writes results for people: a pod's backup or restore
// result (BackupPod, RestorePod) as the agents store it in the repository
// for `quiesce backup logs` and `quiesce restore logs` and as the CLI's
// describe and logs print it, and the rounding those texts share
// (Duration, Bytes) for anything else people read: Events, progress
// lines, tables. Restore Events (agent/restorelog.go) use them; the
// backup Events of agent/events.go still print exact durations and byte
// counts and are to call Duration and Bytes too.
//
// Only text for people is made here. Machine output (the API objects,
// `-o json`, metrics) keeps exact values, and nothing parses this text
// back.
package render
