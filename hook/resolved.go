package hook

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// ToResolved converts hooks to the form the coordinator writes into a
// NodeBackup for the agent.
func ToResolved(hs []Hook) []v1alpha1.ResolvedHook {
	out := make([]v1alpha1.ResolvedHook, 0, len(hs))
	for _, h := range hs {
		r := v1alpha1.ResolvedHook{
			Name: h.Name, Source: h.Source.Kind + " " + h.Source.Ref, Container: h.Container,
			Command: h.Command, Timeout: metav1.Duration{Duration: h.Timeout},
			OnError: v1alpha1.HookErrorMode(h.OnError), Retries: h.Retries, When: string(h.When), Mode: string(h.Mode),
		}
		if h.Hold != nil {
			r.Hold = &v1alpha1.ResolvedHoldSpec{
				ReadyLine: h.Hold.ReadyLine, ReadyTimeout: metav1.Duration{Duration: h.Hold.ReadyTimeout},
				ReleaseInput: h.Hold.ReleaseInput, ReleaseTimeout: metav1.Duration{Duration: h.Hold.ReleaseTimeout},
			}
		}
		out = append(out, r)
	}
	return out
}

// FromResolved converts a NodeBackup's hooks back for the hook runner.
func FromResolved(phase Phase, rs []v1alpha1.ResolvedHook) []Hook {
	out := make([]Hook, 0, len(rs))
	for _, r := range rs {
		kind, ref, _ := cut(r.Source)
		h := Hook{
			Name: r.Name, Phase: phase, Source: Source{Kind: kind, Ref: ref}, Container: r.Container,
			Command: r.Command, Timeout: r.Timeout.Duration, OnError: OnError(r.OnError),
			Retries: r.Retries, When: When(r.When), Mode: Mode(r.Mode),
		}
		if r.Hold != nil {
			h.Hold = &HoldSpec{ReadyLine: r.Hold.ReadyLine, ReadyTimeout: r.Hold.ReadyTimeout.Duration,
				ReleaseInput: r.Hold.ReleaseInput, ReleaseTimeout: r.Hold.ReleaseTimeout.Duration}
		}
		out = append(out, h)
	}
	return out
}

func cut(s string) (string, string, bool) { return strings.Cut(s, " ") }
