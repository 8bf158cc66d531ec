// Package consistency proves the database recipes of examples/databases
// locally, without a cluster: a real server from the Debian packages runs on
// loopback under a write load that carries an invariant, the recipe's hooks
// run as the manifest declares them (held the way quiesce's hold mode holds
// them), the data directory is captured by quiesce's own staged capture
// (fsbackup/staging) during the freeze, and a fresh server started on the
// copy must recover by itself, pass the database's own checks, keep the
// invariant exactly and hold every write acknowledged before the freeze.
//
// The test is TestLocalProof, gated by QUIESCE_DBPROOF=1 (root: servers run
// as their Debian users); docs/consistency.md has the commands and results.
package consistency
