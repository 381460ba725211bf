package testprom

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestPushgatewayHasItsOwnPersistence: the test gateway must not read the packaged
// service's persistence file (a machine whose Pushgateway had persisted groups made
// `go test ./metrics` fail), and starts with no groups.
func TestPushgatewayHasItsOwnPersistence(t *testing.T) {
	base := StartPushgateway(t)
	var status struct {
		Data struct {
			Flags map[string]string `json:"flags"`
		} `json:"data"`
	}
	getJSON(t, base+"/api/v1/status", &status)
	file := status.Data.Flags["persistence.file"]
	if file == "" || !strings.HasPrefix(file, os.TempDir()) {
		t.Errorf("persistence.file = %q, want a file in the test's temporary directory", file)
	}
	var groups struct {
		Data []json.RawMessage `json:"data"`
	}
	getJSON(t, base+"/api/v1/metrics", &groups)
	if len(groups.Data) != 0 {
		t.Errorf("a fresh test gateway holds %d groups", len(groups.Data))
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
