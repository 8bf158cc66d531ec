package render

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Nanosecond, "500ns"},
		{999 * time.Microsecond, "999µs"},
		{999*time.Microsecond + 700*time.Nanosecond, "1ms"},
		{459*time.Millisecond + 123456*time.Nanosecond, "459ms"},
		{999*time.Millisecond + 600*time.Microsecond, "1s"},
		{2634512 * time.Microsecond, "2.6s"},
		{10 * time.Second, "10s"},
		{59960 * time.Millisecond, "1m"},
		{72 * time.Second, "1m12s"},
		{72*time.Second + 400*time.Millisecond, "1m12s"},
		{5 * time.Minute, "5m"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h"},
		{time.Hour, "1h"},
		{2*time.Hour + 5*time.Minute + 31*time.Second, "2h6m"},
		{26*time.Hour + 3*time.Minute, "26h3m"},
		{-1500 * time.Millisecond, "-1.5s"},
	} {
		if got := Duration(tc.in); got != tc.want {
			t.Errorf("Duration(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{999, "999 B"},
		{1000, "1.0 kB"},
		{4096, "4.1 kB"},
		{3_400_000, "3.4 MB"},
		{9_960_000, "10 MB"},
		{34_200_000, "34 MB"},
		{999_999, "1.0 MB"},
		{12_345_678_901, "12 GB"},
		{-2048, "-2.0 kB"},
	} {
		if got := Bytes(tc.in); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
