package render

import (
	"fmt"
	"time"
)

// Duration rounds d to what a person reads: "0s", "999µs", "459ms",
// "2.6s", "1m12s", "5m", "2h5m". Below a minute it keeps two or three
// significant digits, above it whole seconds, above an hour whole minutes.
func Duration(d time.Duration) string {
	if d < 0 {
		return "-" + Duration(-d)
	}
	for _, r := range []struct{ below, unit time.Duration }{
		{time.Microsecond, time.Nanosecond},
		{time.Millisecond, time.Microsecond},
		{time.Second, time.Millisecond},
		{time.Minute, 100 * time.Millisecond},
		{time.Hour, time.Second},
	} {
		if d < r.below {
			d = d.Round(r.unit)
			break
		}
	}
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	if d < time.Minute {
		return d.String()
	}
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	switch {
	case h > 0 && m == 0:
		return fmt.Sprintf("%dh", h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case s == 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dm%ds", m, s)
}

// Bytes rounds n to a decimal (SI) unit: "512 B", "4.1 kB", "3.4 MB",
// "12 GB": one decimal below ten, none above.
func Bytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n) / 1000
	unit := 0
	const units = "kMGTPE"
	for f >= 999.5 && unit < len(units)-1 {
		f /= 1000
		unit++
	}
	if f < 9.95 {
		return fmt.Sprintf("%.1f %cB", f, units[unit])
	}
	return fmt.Sprintf("%.0f %cB", f, units[unit])
}
