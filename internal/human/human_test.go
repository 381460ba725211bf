package human

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 512: "512 B", 1023: "1023 B", 1024: "1.0 KiB", 17825792: "17.0 MiB",
		3 << 30: "3.0 GiB", 5 << 30: "5.0 GiB", 1 << 50: "1.0 PiB", 1<<63 - 1: "8.0 EiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 5 * time.Second: "5s", 7 * time.Second: "7s", 2 * time.Minute: "2m", 10 * time.Minute: "10m",
		90 * time.Second: "1m30s", 2 * time.Hour: "2h", 24 * time.Hour: "24h", 26*time.Hour + 5*time.Minute: "26h5m",
		72 * time.Hour: "3d", -time.Hour: "-1h", -2 * time.Hour: "-2h",
		// Rounded, not truncated: 1h59m40s is closer to 2h than to 1h59m.
		time.Hour + 59*time.Minute + 40*time.Second: "2h",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 90 * time.Second: "1m", 2 * time.Minute: "2m",
		time.Hour + 59*time.Minute + 40*time.Second: "1h", 26*time.Hour + 5*time.Minute: "26h",
		72 * time.Hour: "3d", -2 * time.Hour: "-2h", -36 * time.Hour: "-36h",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
}
