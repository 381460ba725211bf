package main

import (
	"strings"
	"testing"
)

// TestJobRetryPostsAndCountsOnce runs `janitor report` as Kubernetes runs a Job that
// fails (a shard is unreachable: exit 1) and is retried once (backoffLimit 1), against a
// real Pushgateway and a Slack stand-in: the run posts to Slack once, from its last
// attempt, and counts the failing shard once. A new Job (another uid) is a new run.
func TestJobRetryPostsAndCountsOnce(t *testing.T) {
	webhook, posts := slackStandIn(t, "")
	p, gw := pushingConfig(t, "retried", aliveAndGone(t, "pw")+`slack:
  webhook_url: "`+webhook+`"
`)
	errorsLine := `janitor_shard_errors_total{cluster="retried",instance="",job="janitor",shard="gone"} `
	steps := []struct {
		name, uid    string
		posts        int32
		errors       string
		failedMarker string
	}{
		{"job A, first attempt: Kubernetes retries it", "uid-a", 0, "0", `janitor_job_failed_attempts{cluster="retried",instance="",job="janitor",job_uid="uid-a"} 1`},
		{"job A, retry: the last attempt", "uid-a", 1, "1", `janitor_job_failed_attempts{cluster="retried",instance="",job="janitor",job_uid="uid-a"} 2`},
		{"job B, first attempt", "uid-b", 1, "1", `janitor_job_failed_attempts{cluster="retried",instance="",job="janitor",job_uid="uid-b"} 1`},
		{"job B, retry", "uid-b", 2, "2", `job_uid="uid-b"} 2`},
		{"outside Kubernetes: every run is the last", "", 3, "3", ""},
	}
	for _, st := range steps {
		t.Setenv(envJobUID, st.uid)
		t.Setenv(envMaxAttempts, "2")
		code, _, stderr := runCLI(t, "report", "--config", p, "--output", "json")
		if code != exitFailed {
			t.Fatalf("%s: exit %d, want 1\n%s", st.name, code, stderr)
		}
		body := scrapeText(t, gw)
		if got := posts.Load(); got != st.posts {
			t.Errorf("%s: %d Slack posts in all, want %d", st.name, got, st.posts)
		}
		if !strings.Contains(body, errorsLine+st.errors+"\n") {
			t.Errorf("%s: want %s%s, pushgateway has:\n%s", st.name, errorsLine, st.errors, grepLines(body, "janitor_shard_errors_total"))
		}
		if st.failedMarker != "" && !strings.Contains(body, st.failedMarker+"\n") {
			t.Errorf("%s: want %s, pushgateway has:\n%s", st.name, st.failedMarker, grepLines(body, "janitor_job_failed_attempts"))
		}
	}
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
