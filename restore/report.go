package restore

import (
	"fmt"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// maxItems bounds status.items: a restore of thousands of existing objects
// must not outgrow what the API server stores in one object.
const maxItems = 500

// report is what this run of the Runner observed; status is written from it
// (not appended to), so a resumed run does not repeat entries.
type report struct {
	items            []api.RestoredItem
	unlisted         int
	total, restored  int
	existed, failed  int
	errors, warnings []string
}

func (rp *report) item(it api.RestoredItem) {
	switch it.Outcome {
	case api.ItemCreated:
		rp.restored++
		return
	case api.ItemUpdated:
		rp.restored++
	case api.ItemExisted:
		rp.existed++
	case api.ItemFailed:
		rp.failed++
		rp.errors = append(rp.errors, fmt.Sprintf("%s %s: %s", it.Resource, objName(it.Namespace, it.Name), it.Message))
	}
	rp.list(it)
}

func (rp *report) list(it api.RestoredItem) {
	if len(rp.items) < maxItems {
		rp.items = append(rp.items, it)
	} else {
		rp.unlisted++
	}
}

func (rp *report) addSkipped(skipped []api.RestoredItem) {
	for _, it := range skipped {
		rp.list(it)
	}
}

func (rp *report) warnf(format string, args ...any) {
	rp.warnings = append(rp.warnings, fmt.Sprintf(format, args...))
}

// apply writes the report's object part into st.
func (rp *report) apply(st *api.RestoreStatus) {
	st.Progress = api.RestoreProgress{TotalItems: rp.total, ItemsRestored: rp.restored}
	st.Items = append([]api.RestoredItem(nil), rp.items...)
	st.Errors = append([]string(nil), rp.errors...)
	st.Warnings = append([]string(nil), rp.warnings...)
	if rp.existed > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d objects already existed and were left as they were (listed in status.items; existingResourcePolicy \"update\" updates them)", rp.existed))
	}
	if rp.unlisted > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d more objects not created are not listed in status.items", rp.unlisted))
	}
}

func objName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
