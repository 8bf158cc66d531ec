package agent

import (
	"errors"
	"testing"

	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
)

// Exit code -1 means "no exit status" in hookrun: only a failed result may
// read as a failure in the API (a resume record with -1 made a clean
// backup PartiallyFailed).
func TestToAPIResultsFailsOnlyFailures(t *testing.T) {
	rs := hookrun.Results{
		{Hook: "pause", Phase: hook.PreBackup, Outcome: hookrun.Held, ExitCode: -1},
		{Hook: "hold", Phase: hook.PreBackup, Outcome: hookrun.Held, ExitCode: -1},
		{Hook: "resume", Phase: hook.PostBackup, Outcome: hookrun.Released, ExitCode: -1},
		{Hook: "hold", Phase: hook.PreBackup, Outcome: hookrun.Released, ExitCode: -1, Reason: "reaped: killed 2 process(es)"},
		{Hook: "flush", Phase: hook.PreBackup, Outcome: hookrun.Skipped, ExitCode: -1, Reason: "not finished: killed 1 process(es)"},
		{Hook: "notify", Phase: hook.PostBackup, Outcome: hookrun.Succeeded, ExitCode: 0},
		{Hook: "stuck", Phase: hook.PostBackup, Outcome: hookrun.Failed, ExitCode: -1, TimedOut: true, Err: errors.New("timed out")},
		{Hook: "bad", Phase: hook.PostBackup, Outcome: hookrun.Failed, ExitCode: 3, Err: errors.New("exit code 3")},
	}
	wantFailed := []bool{false, false, false, false, false, false, true, true}
	for i, a := range toAPIResults(rs) {
		if a.Failed() != wantFailed[i] {
			t.Errorf("%s %s (%s, exit %d): Failed() = %v, want %v", a.Phase, a.Name, rs[i].Outcome, a.ExitCode, a.Failed(), wantFailed[i])
		}
	}
}
