package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKubernetesDocsCommandsRun follows docs/kubernetes.md's shell blocks as a newcomer
// pastes them into one shell at the repository's root: a `cd` outside a subshell moves
// every later command, and each `kubectl apply -k`, `kustomize build` or `kustomize
// edit` must find a kustomization where it runs. Paths named in the prose (`kubectl
// apply -k PATH`) are checked from the root too.
func TestKubernetesDocsCommandsRun(t *testing.T) {
	b, err := os.ReadFile("../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	isKustomization := func(dir string) bool {
		for _, f := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return true
			}
		}
		return false
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/kubernetes.md has no sh block")
	}
	applyRE := regexp.MustCompile(`^(?:kubectl (?:apply -k|kustomize)|kustomize build) (\S+)`)
	for _, blk := range blocks {
		cwd := ".."
		script := strings.ReplaceAll(blk[1], "\\\n", " ")
		for _, line := range strings.Split(script, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			// A subshell's cd stays in it.
			sub := strings.HasPrefix(line, "(") && strings.HasSuffix(line, ")")
			here := cwd
			for _, cmd := range strings.Split(strings.Trim(line, "()"), "&&") {
				cmd = strings.TrimSpace(cmd)
				switch m := applyRE.FindStringSubmatch(cmd); {
				case strings.HasPrefix(cmd, "cd "):
					here = filepath.Join(here, strings.TrimSpace(strings.TrimPrefix(cmd, "cd ")))
					if fi, err := os.Stat(here); err != nil || !fi.IsDir() {
						t.Errorf("docs/kubernetes.md: %q: no directory %s", line, here)
					}
				case m != nil:
					if !isKustomization(filepath.Join(here, m[1])) {
						t.Errorf("docs/kubernetes.md: %q runs in %s, where %s is no kustomization", line, here, m[1])
					}
				case strings.HasPrefix(cmd, "kustomize edit "):
					if !isKustomization(here) {
						t.Errorf("docs/kubernetes.md: %q: %s is no kustomization", line, here)
					}
				}
			}
			if !sub {
				cwd = here
			}
		}
	}
	for _, m := range regexp.MustCompile("`kubectl apply -k\\s+([^`\\s]+)`").FindAllStringSubmatch(doc, -1) {
		if !isKustomization(filepath.Join("..", m[1])) {
			t.Errorf("docs/kubernetes.md: `kubectl apply -k %s`: no kustomization there", m[1])
		}
	}
}
