package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/internal/testprom"
)

// What several CLI tests share: a real Pushgateway with a config that pushes to it, a
// server standing in for Slack's webhook, a fleet of a live and a dead shard, and
// `janitor serve` running in the test's process.

// pushingConfig starts a real Pushgateway and writes a config of body plus a metrics
// section that pushes to it under cluster. It returns the config's path and the
// Pushgateway's URL.
func pushingConfig(t *testing.T, cluster, body string) (path, gw string) {
	t.Helper()
	gw = testprom.StartPushgateway(t)
	return writeConfig(t, body+"metrics:\n  pushgateway_url: \""+gw+"\"\n  cluster: "+cluster+"\n"), gw
}

// slackStandIn starts a server standing in for a Slack incoming webhook, and counts the
// posts whose body contains match (every post for ""). It returns the webhook URL.
func slackStandIn(t *testing.T, match string) (webhook string, posts *atomic.Int32) {
	t.Helper()
	posts = &atomic.Int32{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), match) {
			posts.Add(1)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(hook.Close)
	return hook.URL + "/services/T/B/x", posts
}

// aliveAndGone is a fleet of a live shard (the sandbox's primary) and a dead one whose
// DSN has gonePassword, both looking at a schema that does not exist: a run visits both,
// fails on the dead one and drops nothing.
func aliveAndGone(t *testing.T, gonePassword string) string {
	return `shards:
  - name: alive
    dsn: "` + testdb.PrimaryDSN(t) + `"
  - name: gone
    dsn: "janitor:` + gonePassword + `@tcp(127.0.0.1:1)/"
discovery:
  schemas: [janitor_no_such_schema]
  connect_timeout: 1s
`
}

// nowhereServeConfig is a serve configuration whose one shard nobody answers, listening
// on addr, with the next run an hour away.
func nowhereServeConfig(addr string) string {
	return `shards:
  - name: nowhere
    dsn: "u:p@tcp(127.0.0.1:1)/"
discovery:
  connect_timeout: 1s
serve:
  listen: "` + addr + `"
  interval: 1h
  jitter: 0s
`
}

// serving is `janitor serve` running in the test's process.
type serving struct {
	base   string // http://listen address
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `janitor serve --config path`, listening on addr, until stop or the
// end of the test.
func startServe(t *testing.T, path, addr string) *serving {
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{base: "http://" + addr, cancel: cancel, done: make(chan int, 1)}
	go func() {
		var out, errb strings.Builder
		s.done <- run(ctx, []string{"serve", "--config", path}, &out, &errb)
	}()
	t.Cleanup(cancel)
	return s
}

// stop ends serve as a SIGTERM does and returns its exit code.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
		return 0
	}
}
