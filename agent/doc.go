// Package agent is the per-node half of quiesce. It acts only on the
// NodeBackups of its own node: for each assigned pod it runs the pre-hooks
// through the node's container runtime, captures the pod's volumes from the
// kubelet's host paths, runs the post-hooks, and uploads the capture after
// the thaw. The per-pod decisions live in agent/phase; this package carries
// them out, records each phase in the node-local journal before acting on
// it, and mirrors results to the NodeBackup status without ever making the
// freeze path wait on the API server.
//
// backuppod.go is the freeze path of one pod, readable top to bottom: a
// short loop feeds the phase machine's events in and carries out its
// actions, one method each (pre-hooks, capture, post-hooks, upload).
// restorepod.go is its pair on the restore side. Failures carry a typed
// cause (api.FailureCause) that Events and metrics read (observe.go).
//
// The agent also restores (Restorer): for each pod its node's NodeRestores
// assign, it fills the pod's volumes from their snapshots while the pod's
// first init container (quiesce restore-wait) holds it, releases that
// container through a signal file in an emptyDir, then runs the pod's
// post-restore hooks through the container runtime once their containers
// run. Restores keep no journal: restoring again gives the same data.
//
// Subpackages: phase (the pure per-pod state machine), journal (the
// node-local record of frozen pods) and kubeletpath (a pod volume's
// directory under the kubelet's root, found before the pod is frozen).
package agent
