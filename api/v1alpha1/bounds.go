package v1alpha1

import (
	"fmt"
	"unicode/utf8"
)

// Bounds on what the Backup and NodeBackup statuses hold, so that no object
// written grows with the number of pods: etcd refuses objects over 1.5 MB,
// and quiesce keeps each under MaxObjectBytes.
const (
	// MaxObjectBytes is the size every Backup and NodeBackup stays under.
	MaxObjectBytes = 256 << 10
	// MaxFailedPods is how many failed pods a Backup's status lists.
	MaxFailedPods = 20
	// MaxMessages is how many errors (and warnings) a Backup's status lists.
	MaxMessages = 50
	// MaxMessageBytes bounds one error, warning or reason in a status.
	MaxMessageBytes = 512
	// MaxHookErrorBytes bounds a hook's or a volume's error in a compact
	// result.
	MaxHookErrorBytes = 256
)

// Compact is the result as a status holds it: no hook output (the pod's
// log in the repository has it) and errors cut to a bound, so that a
// result's size depends on the pod's number of hooks and volumes only.
func (p PodResult) Compact() PodResult {
	p.Reason = Truncate(p.Reason, MaxMessageBytes)
	if p.Hooks != nil {
		hooks := make([]HookResult, len(p.Hooks))
		for i, h := range p.Hooks {
			h.Output = ""
			h.Error = Truncate(h.Error, MaxHookErrorBytes)
			hooks[i] = h
		}
		p.Hooks = hooks
	}
	if p.Volumes != nil {
		vols := make([]VolumeResult, len(p.Volumes))
		for i, v := range p.Volumes {
			v.Error = Truncate(v.Error, MaxHookErrorBytes)
			vols[i] = v
		}
		p.Volumes = vols
	}
	return p
}

// Truncate cuts s to at most n bytes on rune boundaries by leaving out its
// middle, marked: a message names what failed at its start and says what
// to do at its end, and both must survive the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " ... "
	keep := max(0, n-len(mark))
	head, tail := keep/2, keep-keep/2
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	from := len(s) - tail
	for from < len(s) && !utf8.RuneStart(s[from]) {
		from++
	}
	return s[:head] + mark + s[from:]
}

// BoundMessages keeps at most MaxMessages messages, each cut to
// MaxMessageBytes; when some are left out, the last entry says how many
// and where they are.
func BoundMessages(msgs []string, what string) []string {
	if len(msgs) == 0 {
		return msgs
	}
	keep := len(msgs)
	if keep > MaxMessages {
		keep = MaxMessages - 1
	}
	out := make([]string, 0, min(len(msgs), MaxMessages))
	for _, m := range msgs[:keep] {
		out = append(out, Truncate(m, MaxMessageBytes))
	}
	if keep < len(msgs) {
		out = append(out, fmt.Sprintf("... and %d more %s: quiesce backup describe --details", len(msgs)-keep, what))
	}
	return out
}
