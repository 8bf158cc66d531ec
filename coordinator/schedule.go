package coordinator

import (
	"fmt"
	"time"

	"github.com/hashicorp/cronexpr"
)

// scheduleSpan bounds how far ahead ScheduleInterval looks: a week and a
// day, so a weekday-only schedule's weekend gap is seen whatever day it is.
const (
	scheduleSpan     = 8 * 24 * time.Hour
	scheduleMaxFires = 20000 // a every-minute schedule fires 11520 times in scheduleSpan
)

// ScheduleInterval is the longest time between two consecutive runs of a
// CronJob schedule from `from` on (at least two gaps, so a monthly schedule
// has one): "no successful backup within 1.5 intervals" then never fires
// over a weekend for a schedule that skips weekends.
func ScheduleInterval(schedule string, from time.Time) (time.Duration, error) {
	e, err := cronexpr.Parse(schedule)
	if err != nil {
		return 0, fmt.Errorf("cron schedule %q: %w", schedule, err)
	}
	prev := e.Next(from)
	if prev.IsZero() {
		return 0, fmt.Errorf("cron schedule %q: never runs", schedule)
	}
	var longest time.Duration
	for i := 0; i < scheduleMaxFires; i++ {
		next := e.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		if i >= 1 && next.Sub(from) > scheduleSpan {
			break
		}
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("cron schedule %q: runs once only", schedule)
	}
	return longest, nil
}
