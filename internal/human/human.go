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

// Duration prints a duration for prose (skip reasons, Slack): the largest unit and,
// below two days, the next one, rounded: 45s, 1m30s, 26h5m, 3d.
func Duration(d time.Duration) string { return duration(d, false) }

// Age prints a duration for a report's AGE column: the largest unit only, cut down, so
// the column reads at a glance and a table 23h59m old is still "23h": 45s, 1m, 26h, 3d.
// It is Duration with the second unit left off.
func Age(d time.Duration) string { return duration(d, true) }

func duration(d time.Duration, oneUnit bool) string {
	switch {
	case d < 0:
		return "-" + duration(-d, oneUnit)
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case oneUnit && d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case oneUnit && d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case oneUnit:
		return fmt.Sprintf("%ds", int(d.Seconds()))
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
