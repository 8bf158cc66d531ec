package consistency

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Ack is a write the load client saw committed, and when.
type Ack struct {
	ID string
	At time.Time
}

// Cycle is one backup of a recipe under load and the check of its copy.
type Cycle struct {
	Recipe string
	// HookErr: a pre-hook failed; the capture is skipped when its on-error
	// is Fail (as the agent does).
	HookErr  string
	Captured bool
	// The restored copy: starts by itself, its own checks, the invariant.
	Started, ChecksOK, InvariantOK bool
	Note                           string
	// Missing: writes acknowledged before the pre-hooks finished that the copy
	// lacks. InFreeze: writes acknowledged after the pre-hooks finished and
	// before the release began (a real freeze has none).
	Missing, InFreeze int
	// Acks: writes the load clients saw committed in the cycle.
	Acks int
	// Freeze: first pre-hook started to the last release done. Stall: the
	// longest a load client waited for one transaction in the cycle.
	Freeze, Stall time.Duration
	// ReleaseNote: what the release or a post-hook said, when not clean.
	ReleaseNote string
}

// Clean: captured, restored by itself, checks and invariant pass, nothing
// acknowledged before the freeze missing.
func (c Cycle) Clean() bool {
	return c.Captured && c.Started && c.ChecksOK && c.InvariantOK && c.Missing == 0
}

// AckCheck compares the acknowledged writes with the IDs found in the copy:
// missing counts those acknowledged before ready that the copy lacks,
// inFreeze those acknowledged in [ready, released).
func AckCheck(acks []Ack, present map[string]bool, ready, released time.Time) (missing, inFreeze int) {
	for _, a := range acks {
		switch {
		case a.At.Before(ready):
			if !present[a.ID] {
				missing++
			}
		case a.At.Before(released):
			inFreeze++
		}
	}
	return missing, inFreeze
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds; 0
// for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100 + 0.999999)
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// Summary is one table row: a recipe's cycles.
type Summary struct {
	Recipe                                                        string
	Cycles, Clean, HookFailed, NoStart, CheckFailed, InvViolation int
	Missing, InFreeze, Acks                                       int
	FreezeP50, FreezeP95, StallP50, StallP95                      time.Duration
	Notes                                                         []string
}

// Summarize groups cycles by recipe, in first-seen order.
func Summarize(cs []Cycle) []Summary {
	var order []string
	by := map[string][]Cycle{}
	for _, c := range cs {
		if _, ok := by[c.Recipe]; !ok {
			order = append(order, c.Recipe)
		}
		by[c.Recipe] = append(by[c.Recipe], c)
	}
	var out []Summary
	for _, r := range order {
		s := Summary{Recipe: r}
		var fz, st []time.Duration
		notes := map[string]bool{}
		for _, c := range by[r] {
			s.Cycles++
			if c.Clean() {
				s.Clean++
			}
			switch {
			case !c.Captured:
				s.HookFailed++
			case !c.Started:
				s.NoStart++
			default:
				if !c.ChecksOK {
					s.CheckFailed++
				}
				if !c.InvariantOK {
					s.InvViolation++
				}
			}
			s.Missing += c.Missing
			s.InFreeze += c.InFreeze
			s.Acks += c.Acks
			if c.Captured {
				fz = append(fz, c.Freeze)
				st = append(st, c.Stall)
			}
			for _, n := range []string{c.HookErr, c.Note, c.ReleaseNote} {
				if n != "" && !notes[n] {
					notes[n] = true
					s.Notes = append(s.Notes, n)
				}
			}
		}
		s.FreezeP50, s.FreezeP95 = Percentile(fz, 50), Percentile(fz, 95)
		s.StallP50, s.StallP95 = Percentile(st, 50), Percentile(st, 95)
		sort.Strings(s.Notes)
		out = append(out, s)
	}
	return out
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// WriteTable renders summaries as a Markdown table, then each recipe's
// distinct notes.
func WriteTable(w io.Writer, ss []Summary) {
	fmt.Fprintln(w, "| recipe | cycles | clean | hook failed (no capture) | did not start | checks failed | invariant violated | writes acked | acked before freeze, missing | acked during hold | freeze p50 / p95 | client stall p50 / p95 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range ss {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s / %s | %s / %s |\n", s.Recipe, s.Cycles, s.Clean,
			s.HookFailed, s.NoStart, s.CheckFailed, s.InvViolation, s.Acks, s.Missing, s.InFreeze, ms(s.FreezeP50), ms(s.FreezeP95), ms(s.StallP50), ms(s.StallP95))
	}
	fmt.Fprintln(w)
	for _, s := range ss {
		for _, n := range s.Notes {
			fmt.Fprintf(w, "- `%s`: %s\n", s.Recipe, oneLine(n, 300))
		}
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// MaxGap is the longest time between consecutive acknowledgements after
// from (the stall a client saw around the freeze).
func MaxGap(acks []Ack, from time.Time) time.Duration {
	acks = slices.Clone(acks)
	slices.SortFunc(acks, func(a, b Ack) int { return a.At.Compare(b.At) })
	var m time.Duration
	prev := from
	for _, a := range acks {
		if a.At.Before(from) {
			continue
		}
		if g := a.At.Sub(prev); g > m {
			m = g
		}
		prev = a.At
	}
	return m
}

// clientSessionErrors are what a server logs as an error of one client's
// session (a readiness probe connecting while the server starts, or killed
// by its timeout on a loaded machine): the client's error, not the
// server's.
var clientSessionErrors = []string{"the database system is", "connection to client lost",
	"could not receive data from client", "unexpected EOF on client connection"}

// LogErrors returns the last lines of a server log that contain any marker,
// client sessions' errors left out.
func LogErrors(log string, markers ...string) string {
	var bad []string
	for _, l := range strings.Split(log, "\n") {
		if slices.ContainsFunc(clientSessionErrors, func(e string) bool { return strings.Contains(l, e) }) {
			continue
		}
		for _, m := range markers {
			if strings.Contains(l, m) {
				bad = append(bad, strings.TrimSpace(l))
				break
			}
		}
	}
	return lastLines(strings.Join(bad, "\n"), 3)
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// The lines of docs/consistency.md between which make test-consistency
// writes its table; the prose around them is written by people.
const (
	TableBegin = "<!-- make test-consistency: generated table begins -->"
	TableEnd   = "<!-- make test-consistency: generated table ends -->"
)

// SpliceTable returns doc with what lies between TableBegin and TableEnd
// replaced by table. A document without both markers, in that order, is an
// error (nothing would say where the table goes), and doc is left as is.
func SpliceTable(doc, table []byte) ([]byte, error) {
	s := string(doc)
	b := strings.Index(s, TableBegin)
	e := strings.Index(s, TableEnd)
	if b < 0 || e < b {
		return nil, fmt.Errorf("no %q line followed by a %q line: add both where the table goes", TableBegin, TableEnd)
	}
	head := s[:b+len(TableBegin)]
	return []byte(head + "\n\n" + strings.TrimSpace(string(table)) + "\n\n" + s[e:]), nil
}
