// Package render writes results for people: a pod's backup or restore
// result (BackupPod, RestorePod) as the agents store it in the repository
// for `quiesce backup logs` and `quiesce restore logs` and as the CLI's
// describe and logs print it, and the rounding those texts share
// (Duration, Bytes) for anything else people read: Events, progress
// lines, tables: the agent's backup and restore Events use them.
//
// Only text for people is made here. Machine output (the API objects,
// `-o json`, metrics) keeps exact values, and nothing parses this text
// back.
package render
