package coordinator

import (
	"testing"
	"time"
)

func TestScheduleInterval(t *testing.T) {
	thu := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a Thursday
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"0 2 * * *", 24 * time.Hour},
		{"*/15 * * * *", 15 * time.Minute},
		{"@hourly", time.Hour},
		{"0 2 * * 1-5", 72 * time.Hour}, // Friday to Monday
		{"0 0 1 * *", 31 * 24 * time.Hour},
	} {
		got, err := ScheduleInterval(tc.schedule, thu)
		if err != nil || got != tc.want {
			t.Errorf("ScheduleInterval(%q) = %v, %v; want %v", tc.schedule, got, err, tc.want)
		}
	}
	if _, err := ScheduleInterval("every day", thu); err == nil {
		t.Error("a malformed schedule must be an error")
	}
}
