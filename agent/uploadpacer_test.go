package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// held reports whether an upload's read would wait now (fake time: the
// short deadline passes only if Pause blocks).
func held(ctx context.Context, p *UploadPacer) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	return errors.Is(p.Pause(ctx), context.DeadlineExceeded)
}

func TestUploadPacerHoldsReadsUntilTheLastPodThaws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewUploadPacer(1)
		if held(t.Context(), p) {
			t.Fatal("held with no pod frozen")
		}
		p.froze()
		p.froze()
		if !held(t.Context(), p) {
			t.Fatal("not held with two pods frozen")
		}
		p.thawed()
		if !held(t.Context(), p) {
			t.Fatal("not held with one pod still frozen")
		}
		waiting := make(chan error, 1)
		go func() { waiting <- p.Pause(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-waiting:
			t.Fatalf("a read went on while a pod was frozen: %v", err)
		default:
		}
		p.thawed()
		if err := <-waiting; err != nil {
			t.Fatalf("the held read ended with %v", err)
		}
		if held(t.Context(), p) {
			t.Fatal("held after every pod thawed")
		}
	})
}

func TestUploadPacerSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewUploadPacer(2)
		if !p.acquire(t.Context()) || !p.acquire(t.Context()) {
			t.Fatal("two slots not free")
		}
		third := make(chan bool, 1)
		go func() { third <- p.acquire(t.Context()) }()
		synctest.Wait()
		select {
		case <-third:
			t.Fatal("a third upload started with two slots")
		default:
		}
		p.release()
		if !<-third {
			t.Fatal("the third upload did not get the freed slot")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if p.acquire(ctx) {
			t.Fatal("acquired a full pacer's slot with a cancelled context")
		}
	})
}

// pacedVolumes notes, at each operation, whether uploads would be held.
type pacedVolumes struct {
	*fakeVolumes
	pacer *UploadPacer
}

func (v pacedVolumes) Capture(ctx context.Context, b BackupRef, pod *api.PodAssignment, staged bool) ([]api.VolumeResult, error) {
	v.tr.add(fmt.Sprintf("uploads held at capture: %v", held(ctx, v.pacer)))
	return v.fakeVolumes.Capture(ctx, b, pod, staged)
}

func (v pacedVolumes) Upload(ctx context.Context, b BackupRef, pod *api.PodAssignment, captured []api.VolumeResult) ([]api.VolumeResult, error) {
	v.tr.add(fmt.Sprintf("uploads held at upload: %v", held(ctx, v.pacer)))
	return v.fakeVolumes.Upload(ctx, b, pod, captured)
}

// A pod counts as frozen from its pre-hooks to its thaw, and its upload
// waits for a slot.
func TestPodRunPacesUploads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		pacer := NewUploadPacer(1)
		r, reports, _ := newRun(t, &fakeHooks{tr: tr, preOK: true}, pacedVolumes{&fakeVolumes{tr: tr, captureDelay: time.Second}, pacer}, time.Minute)
		r.pacer = pacer
		if !pacer.acquire(t.Context()) { // another pod's upload holds the only slot
			t.Fatal("slot")
		}
		done := make(chan api.PodResult, 1)
		go func() { done <- r.run(t.Context(), nil) }()
		time.Sleep(2 * time.Second) // past the capture
		synctest.Wait()
		if n := len(*reports); n == 0 || (*reports)[n-1].Phase != api.PodUploading {
			t.Fatalf("reports = %+v, want the pod Uploading while it waits for a slot", *reports)
		}
		if slices.Contains(tr.get(), "upload") {
			t.Fatal("the upload ran without a slot")
		}
		pacer.release()
		if res := <-done; res.Phase != api.PodCompleted {
			t.Fatalf("phase = %s (%s)", res.Phase, res.Reason)
		}
		want := []string{"freeze", "uploads held at capture: true", "capture", "captured", "thaw(captured)", "uploads held at upload: false", "upload"}
		if got := tr.get(); !slices.Equal(got, want) {
			t.Fatalf("trace = %v, want %v", got, want)
		}
	})
}
