package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// follow watches the Backup's NodeBackups and, after every batch of
// changes, opens group gates and updates the Backup's status, until all
// pods are final or the timeout passes. It lists once and then applies
// the watch's events to what it listed (relisting only when the watch
// ends or fails): with hundreds of NodeBackups, a list per change made
// every gate wait on megabytes of reads.
func (c *Coordinator) follow(ctx context.Context, b *api.Backup, log *zap.Logger) (*api.Backup, error) {
	deadline := c.now().Add(c.timeout())
	if b.Status.StartTimestamp != nil {
		deadline = b.Status.StartTimestamp.Add(c.timeout())
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ns, sel := client.InNamespace(b.Namespace), client.MatchingLabels{LabelBackup: b.Name}
	for {
		// The watch is opened before the list, so that no change falls
		// between them; the view drops what the list already has.
		w, err := c.Client.Watch(ctx, &api.NodeBackupList{}, ns, sel)
		if err != nil {
			return c.stopped(ctx, b, err, log)
		}
		var list api.NodeBackupList
		if err := c.Client.List(ctx, &list, ns, sel); err != nil {
			w.Stop()
			return c.stopped(ctx, b, err, log)
		}
		view := newNodeBackupView(list.Items)
		final, err := c.followWatch(ctx, b, w, view, log)
		w.Stop()
		var fatal errGates
		switch {
		case final != nil:
			return final, nil
		case ctx.Err() != nil:
			// The backup's deadline, even when it cut one of our own writes
			// short: the pods not final fail with it.
			return c.stopped(ctx, b, ctx.Err(), log)
		case errors.As(err, &fatal):
			return nil, fatal.err
		}
		// The watch ended (the API server's timeout) or failed (its
		// resource version expired): list again, after a pause if failed.
		if err != nil {
			log.Info("nodebackup watch failed; listing again", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// followWatch runs rounds on view until the backup is final (returned),
// the watch ends (nil, nil) or fails (nil, its error), or a write of the
// coordinator's own fails (errGates).
func (c *Coordinator) followWatch(ctx context.Context, b *api.Backup, w watch.Interface, view *nodeBackupView, log *zap.Logger) (*api.Backup, error) {
	for {
		nbs := view.items()
		if err := c.openGates(ctx, nbs, log); err != nil {
			return nil, errGates{err}
		}
		view.set(nbs) // gates as written
		pods, done := api.BackupReport(nil, nbs)
		done, err := c.fold(ctx, b, pods, done, log)
		if err != nil {
			return nil, errGates{err}
		}
		if done {
			return b, nil
		}
		// Wait for a change, then take every change already queued: one
		// round per batch, not per event.
		changed := false
		for !changed {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case ev, ok := <-w.ResultChan():
				if !ok {
					return nil, nil
				}
				if changed, err = view.apply(ev); err != nil {
					return nil, err
				}
			}
		}
		for drained := false; !drained; {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return nil, nil
				}
				if _, err := view.apply(ev); err != nil {
					return nil, err
				}
			default:
				drained = true
			}
		}
	}
}

// nodeBackupView is a Backup's NodeBackups as listed and then changed by
// watch events: the newest version of each seen.
type nodeBackupView struct{ byName map[string]api.NodeBackup }

func newNodeBackupView(items []api.NodeBackup) *nodeBackupView {
	v := &nodeBackupView{byName: make(map[string]api.NodeBackup, len(items))}
	v.set(items)
	return v
}

func (v *nodeBackupView) set(items []api.NodeBackup) {
	for _, nb := range items {
		v.byName[nb.Name] = nb
	}
}

// items are the NodeBackups by name.
func (v *nodeBackupView) items() []api.NodeBackup {
	out := make([]api.NodeBackup, 0, len(v.byName))
	for _, nb := range v.byName {
		out = append(out, *nb.DeepCopy())
	}
	slices.SortFunc(out, func(a, b api.NodeBackup) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// apply applies a watch event; it reports whether the view changed (a
// bookmark, or a version no newer than the one it has, does not). An error event is
// returned as an error.
func (v *nodeBackupView) apply(ev watch.Event) (bool, error) {
	switch ev.Type {
	case watch.Error:
		if st, ok := ev.Object.(*metav1.Status); ok {
			return false, fmt.Errorf("watch: %s (%d)", st.Message, st.Code)
		}
		return false, fmt.Errorf("watch: error event %T", ev.Object)
	case watch.Bookmark:
		return false, nil
	}
	nb, ok := ev.Object.(*api.NodeBackup)
	if !ok {
		return false, nil
	}
	if ev.Type == watch.Deleted {
		_, had := v.byName[nb.Name]
		delete(v.byName, nb.Name)
		return had, nil
	}
	if cur, ok := v.byName[nb.Name]; ok && !newer(nb.ResourceVersion, cur.ResourceVersion) {
		return false, nil
	}
	v.byName[nb.Name] = *nb
	return true, nil
}

// newer reports whether resource version a is after b. The API server's
// versions are etcd revisions: a watch opened before a list may deliver
// a version older than the list's, which must not replace it (gates
// computed from it could close what is open). Versions that are not
// numbers are newer when different.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x > y
}
