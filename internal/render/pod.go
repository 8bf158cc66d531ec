package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Detail is how much of a pod's result is written.
type Detail int

const (
	// Summary is the pod's line and its reason.
	Summary Detail = iota
	// Rows adds a line per hook and per volume.
	Rows
	// Output adds the hooks' output excerpts.
	Output
)

// Options shape a pod's text.
type Options struct {
	// Indent starts every line (describe nests pods under "Pods (n):").
	Indent string
	Detail Detail
	// IDs adds the pod's UID and when its freeze began, to match the text
	// with node logs (the agents' stored logs).
	IDs bool
}

// BackupPod writes a pod's backup result:
//
//	pod shop/db-0 on node node-a: Completed, frozen 412ms (control overhead 3ms)
//	  hook pre pg-freeze container=db exit 0 in 388ms (annotation)
//	    | CHECKPOINT
//	  volume data: snapshot k1, 120 files, 3.4 MB (1.2 MB uploaded), capture 2.6s, upload 1.1s
func BackupPod(w io.Writer, p api.PodResult, o Options) {
	var freeze string
	if p.Freeze != nil {
		freeze = ", frozen " + Duration(p.Freeze.Duration)
		if o.IDs && p.FreezeStart != nil {
			freeze += " from " + p.FreezeStart.UTC().Format(time.RFC3339Nano)
		}
		if p.ControlOverhead != nil {
			freeze += " (control overhead " + Duration(p.ControlOverhead.Duration) + ")"
		}
	}
	heading(w, o, p.Namespace, p.Name, p.UID, p.Node, string(p.Phase), freeze, p.Reason)
	if o.Detail < Rows {
		return
	}
	hooks(w, o, p.Hooks, p.Reason)
	for _, v := range p.Volumes {
		row := fmt.Sprintf("volume %s: snapshot %s, %d files, %s", v.Name, orDash(v.SnapshotID), v.Files, Bytes(v.Bytes))
		if v.UploadedBytes > 0 {
			row += " (" + Bytes(v.UploadedBytes) + " uploaded)"
		}
		row += ", capture " + Duration(v.Capture.Duration)
		if v.Upload.Duration > 0 {
			row += ", upload " + Duration(v.Upload.Duration)
		}
		volumeRow(w, o, row, v.Error, p.Reason)
	}
}

// RestorePod writes a pod's restore result:
//
//	pod shop-copy/db-0 on node node-a: PartiallyFailed
//	  reason: post-restore hook migrate in container db: exit 3
//	  volume data: snapshot k1, 3 files, 4.1 kB in 2s
//	  hook post-restore migrate container=db exit 3 in 1.2s (annotation)
//	    | relation missing
func RestorePod(w io.Writer, p api.RestorePodResult, o Options) {
	heading(w, o, p.Namespace, p.Name, p.UID, p.Node, string(p.Phase), "", p.Reason)
	if o.Detail < Rows {
		return
	}
	for _, v := range p.Volumes {
		row := fmt.Sprintf("volume %s: snapshot %s, %d files, %s in %s", v.Name, orDash(v.SnapshotID), v.Files, Bytes(v.Bytes), Duration(v.Duration.Duration))
		volumeRow(w, o, row, v.Error, p.Reason)
	}
	hooks(w, o, p.Hooks, p.Reason)
}

func heading(w io.Writer, o Options, ns, name, uid, node, phase, extra, reason string) {
	id := ""
	if o.IDs && uid != "" {
		id = " (uid " + uid + ")"
	}
	on := ""
	if node != "" {
		on = " on node " + node
	}
	fmt.Fprintf(w, "%spod %s/%s%s%s: %s%s\n", o.Indent, ns, name, id, on, orDash(phase), extra)
	if reason != "" {
		fmt.Fprintf(w, "%s  reason: %s\n", o.Indent, reason)
	}
}

// hooks writes a row per hook, and a failed hook's error once (seeReason).
func hooks(w io.Writer, o Options, hs []api.HookResult, reason string) {
	for _, h := range hs {
		row := "hook "
		if h.Phase != "" {
			row += h.Phase + " "
		}
		row += h.Name + " container=" + h.Container + " "
		err := h.Error
		switch {
		case h.Skipped:
			err = "" // a skipped hook's reason is its output
			row += h.Outcome()
		case err != "" && h.TimedOut:
			row += "timed out (see reason)"
		case err != "":
			row += "error (see reason)"
		default:
			row += h.Outcome()
		}
		row += " in " + Duration(h.Duration.Duration)
		if h.Source != "" {
			row += " (" + h.Source + ")"
		}
		fmt.Fprintf(w, "%s  %s\n", o.Indent, row)
		seeReason(w, o, err, reason)
		if o.Detail >= Output {
			excerpt(w, o.Indent+"    | ", h.Output)
		}
	}
}

// volumeRow writes a volume's row, and its error once (seeReason).
func volumeRow(w io.Writer, o Options, row, err, reason string) {
	if err != "" {
		row += ", error (see reason)"
	}
	fmt.Fprintf(w, "%s  %s\n", o.Indent, row)
	seeReason(w, o, err, reason)
}

// seeReason writes a hook's or volume's error under its row. The error is
// long and names the pod, the hook or the volume again, so the row only
// says "(see reason)"; and when the pod's reason, written above the rows,
// holds the error already, it is not written again.
func seeReason(w io.Writer, o Options, err, podReason string) {
	if err != "" && !strings.Contains(podReason, err) {
		fmt.Fprintf(w, "%s    reason: %s\n", o.Indent, err)
	}
}

func excerpt(w io.Writer, prefix, text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if l != "" {
			fmt.Fprintf(w, "%s%s\n", prefix, l)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
