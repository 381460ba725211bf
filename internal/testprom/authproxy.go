package testprom

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// AuthProxy fronts upstream (a Prometheus or Pushgateway started here) with a reverse
// proxy that answers 401 to any request lacking one of want's headers with its exact
// value, as an authenticating gateway or a multi-tenant front (X-Scope-OrgID) does. It
// returns the proxy's URL and a count of the requests it let through.
func AuthProxy(t testing.TB, upstream string, want map[string]string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var passed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range want {
			if r.Header.Get(k) != v {
				http.Error(w, "missing or wrong "+k, http.StatusUnauthorized)
				return
			}
		}
		passed.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &passed
}
