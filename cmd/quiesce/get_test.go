package main

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestNewestFirst(t *testing.T) {
	at := func(name string, min int) api.Restore {
		return api.Restore{ObjectMeta: metav1.ObjectMeta{Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 11, 26, 3, min, 0, 0, time.UTC))}}
	}
	items := []api.Restore{at("old", 1), at("new", 9), at("mid", 5)}
	all, err := newestFirst(items, "restore", "quiesce", nil)
	if err != nil || len(all) != 3 || all[0].Name != "new" || all[1].Name != "mid" || all[2].Name != "old" {
		t.Errorf("all = %v (%v), want new, mid, old", all, err)
	}
	one, err := newestFirst(items, "restore", "quiesce", []string{"mid"})
	if err != nil || len(one) != 1 || one[0].Name != "mid" {
		t.Errorf("mid = %v (%v)", one, err)
	}
	if _, err := newestFirst(items, "restore", "quiesce", []string{"gone"}); err == nil || err.Error() != "restore quiesce/gone not found" {
		t.Errorf("missing name: %v", err)
	}
}
