// Package coordinator turns a Backup into per-node assignments: it selects
// the opted-in pods and their volumes, resolves their hooks with the hook
// model, groups them by node into NodeBackups, and folds the agents' reports
// back into the Backup's status. It never runs hooks or touches volumes.
package coordinator
