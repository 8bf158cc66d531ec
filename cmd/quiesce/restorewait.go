package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// signalPoll is how often restore-wait looks for the signal file: the file
// sits in an emptyDir that only the agent (on the host) writes, so there is
// no event to wait on from inside the container.
const signalPoll = 250 * time.Millisecond

func newRestoreWaitCommand() *cobra.Command {
	var (
		file, restore string
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "restore-wait",
		Short: "Wait until the node agent has restored this pod's volumes (the restore wait init container)",
		Long: `Runs as the first init container of a restored pod with volume data. It waits
for the signal file the quiesce agent writes into the pod's signal emptyDir once
it has restored every volume: it exits 0 when the restore succeeded, and 1 with
the agent's reason when it failed or when --timeout passes first, so the pod's
application containers never start on empty or partial volumes.`,
		Args:   cobra.NoArgs,
		Hidden: true, // run by the pod, not by users
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" || restore == "" {
				return errors.New("--signal-file and --restore are required")
			}
			sig, err := waitForSignal(cmd.Context(), file, timeout)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				return fmt.Errorf("restore %s: timed out after %s waiting for the quiesce agent to restore this pod's volumes; see `quiesce restore describe %s`",
					restore, timeout, restore)
			case err != nil:
				return fmt.Errorf("restore %s: %w", restore, err)
			case !sig.OK:
				return fmt.Errorf("restore %s: volume data not restored: %s", restore, sig.Reason)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restore %s: volume data restored\n", restore)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "signal-file", "/quiesce-restore/"+api.RestoreSignalFile, "the signal file the agent writes")
	f.StringVar(&restore, "restore", "", "the Restore's name (for messages)")
	f.DurationVar(&timeout, "timeout", time.Hour, "give up after this long")
	return cmd
}

// waitForSignal reads file once it exists; it only reads (the container runs
// as a non-root user on a read-only mount). The agent writes the file with a
// rename, so a file that exists is complete.
func waitForSignal(ctx context.Context, file string, timeout time.Duration) (api.RestoreSignal, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(signalPoll)
	defer t.Stop()
	for {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			var sig api.RestoreSignal
			if err := json.Unmarshal(b, &sig); err != nil {
				return sig, fmt.Errorf("signal file %s: %w (the agent writes JSON {\"ok\":...})", file, err)
			}
			return sig, nil
		case !errors.Is(err, fs.ErrNotExist):
			return api.RestoreSignal{}, fmt.Errorf("signal file: %w", err)
		}
		select {
		case <-ctx.Done():
			return api.RestoreSignal{}, ctx.Err()
		case <-t.C:
		}
	}
}
