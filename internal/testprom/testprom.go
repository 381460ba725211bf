// Package testprom starts a real Prometheus (Debian's prometheus package) scraping a
// real node_exporter on loopback, so the freeable-memory signal is tested against the
// query API it will meet in production, and a real Pushgateway for the pushed metrics.
package testprom

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Start runs node_exporter and Prometheus for the test, labels the scraped series with
// shard=<shard>, and returns Prometheus' base URL once it has scraped.
func Start(t testing.TB, shard string) string {
	t.Helper()
	for _, bin := range []string{"prometheus", "prometheus-node-exporter"} {
		if _, err := exec.LookPath(bin); err != nil {
			if testing.Short() {
				t.Skipf("%s not installed (-short)", bin)
			}
			t.Fatalf("%s is not installed: apt-get install prometheus prometheus-node-exporter (scripts/test.sh does)", bin)
		}
	}
	dir := t.TempDir()
	node := freeAddr(t)
	start(t, "prometheus-node-exporter", "--web.listen-address="+node, "--collector.disable-defaults", "--collector.meminfo")
	waitHTTP(t, "http://"+node+"/metrics")
	cfg := filepath.Join(dir, "prometheus.yml")
	body := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [%q]
        labels:
          shard: %q
`, node, shard)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := freeAddr(t)
	start(t, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+prom, "--log.level=warn")
	base := "http://" + prom
	waitHTTP(t, base+"/-/ready")
	// Ready is not scraped: wait for the first sample.
	client, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		t.Fatal(err)
	}
	q := promv1.NewAPI(client)
	deadline := time.Now().Add(time.Minute)
	for {
		v, _, err := q.Query(context.Background(), `up{job="node"} == 1`, time.Now())
		if vec, ok := v.(model.Vector); err == nil && ok && len(vec) > 0 {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never scraped node_exporter: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // polling for the first scrape, with a deadline
	}
}

// StartPushgateway runs Debian's prometheus-pushgateway on a free loopback port for the
// test and returns its base URL once it is ready.
func StartPushgateway(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("prometheus-pushgateway"); err != nil {
		if testing.Short() {
			t.Skip("prometheus-pushgateway not installed (-short)")
		}
		t.Fatal("prometheus-pushgateway is not installed: apt-get install prometheus-pushgateway (scripts/test.sh does)")
	}
	addr := freeAddr(t)
	// Debian's binary defaults to /var/lib/prometheus/pushgateway.data, which the
	// packaged service fills: the test's gateway would start with that machine's groups.
	start(t, "prometheus-pushgateway", "--web.listen-address="+addr,
		"--persistence.file="+filepath.Join(t.TempDir(), "pushgateway.data"))
	base := "http://" + addr
	waitHTTP(t, base+"/-/ready")
	return base
}

func start(t testing.TB, bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(t testing.TB, url string) {
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for readiness, with a deadline
	}
}
