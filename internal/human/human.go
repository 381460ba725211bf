// Package human formats byte counts and durations for people: reports, Slack messages,
// skip reasons and throttle readings all print them the same way.
package human

import (
	"fmt"
	"time"
)

// Bytes prints a byte count in IEC units: 512 B, 1.0 KiB, 17.0 MiB, 5.0 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Duration prints a duration the way a DBA reads it: 3d, 26h, 26h5m, 10m, 1m30s, 7s.
// It rounds to the minute from an hour up and to the second below, and drops a zero
// remainder (26h, not 26h0m0s).
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Duration(-d)
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		d = d.Round(time.Minute)
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", int(d.Hours()), m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= time.Minute:
		d = d.Round(time.Second)
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return d.Round(time.Second).String()
	}
}
