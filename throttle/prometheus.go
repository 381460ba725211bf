package throttle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/janitorhq/janitor/internal/httpclient"
	"github.com/janitorhq/janitor/internal/human"
)

// FreeableMemory reads the server's freeable memory through a Prometheus query API: on
// Aurora the CloudWatch FreeableMemory metric (via an exporter), elsewhere
// node_memory_MemAvailable_bytes. It is the signal that fell before the 2023-11-07
// failover. A failed query, an empty result or NaN is unhealthy.
type FreeableMemory struct {
	API   promv1.API
	Query string
	Floor int64
}

var _ Signal = (*FreeableMemory)(nil)

// NewFreeableMemory returns the signal for one shard; "{{shard}}" in query is replaced
// by the shard's name. httpClient is prometheus/common's HTTP client configuration
// (Config.PrometheusHTTPClient): credentials, TLS, a tenant header.
func NewFreeableMemory(url string, httpClient map[string]any, query, shard string, floor int64) (*FreeableMemory, error) {
	hc, err := httpclient.Client("prometheus_http_client", httpClient)
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(api.Config{Address: url, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus_url: %w", err)
	}
	return &FreeableMemory{API: promv1.NewAPI(client), Query: strings.ReplaceAll(query, "{{shard}}", shard), Floor: floor}, nil
}

// Name implements Signal.
func (f *FreeableMemory) Name() string { return "freeable_memory" }

// Check implements Signal.
func (f *FreeableMemory) Check(ctx context.Context) Reading {
	v, warnings, err := f.API.Query(ctx, f.Query, time.Now())
	if err != nil {
		return Reading{Err: fmt.Errorf("query %q: %w", f.Query, err)}
	}
	// Federated queriers (Thanos, Mimir) answer with warnings when a store is down, and
	// the series that stayed may not be this server's: a partial answer is no answer.
	if len(warnings) > 0 {
		return Reading{Value: fmt.Sprintf("query %q answered with warnings: %s", f.Query, strings.Join(warnings, "; "))}
	}
	lowest, n, err := smallest(v)
	if err != nil {
		return Reading{Err: fmt.Errorf("query %q: %w", f.Query, err)}
	}
	if n == 0 {
		return Reading{Value: fmt.Sprintf("query %q returned no series", f.Query)}
	}
	return Reading{Healthy: lowest >= float64(f.Floor),
		Value: fmt.Sprintf("%s freeable (floor %s)", memory(lowest), human.Bytes(f.Floor))}
}

func smallest(v model.Value) (float64, int, error) {
	lowest := math.Inf(1)
	n := 0
	take := func(x model.SampleValue) {
		n++
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = math.Inf(-1) // unknown counts as the worst
		}
		lowest = math.Min(lowest, f)
	}
	switch x := v.(type) {
	case model.Vector:
		for _, s := range x {
			take(s.Value)
		}
	case *model.Scalar:
		take(x.Value)
	default:
		return 0, 0, errors.New("want an instant vector or scalar, got " + v.Type().String())
	}
	return lowest, n, nil
}

// memory prints a sample as human.Bytes does; an unknown one (NaN or infinite, read as
// the worst) as NaN.
func memory(b float64) string {
	switch {
	case math.IsInf(b, 0) || math.IsNaN(b):
		return "NaN"
	case b >= math.MaxInt64:
		return human.Bytes(math.MaxInt64)
	}
	return human.Bytes(int64(b))
}
