// Package deploy holds janitor's Kubernetes manifests (kustomize/), alert rules
// (prometheus/), dashboard (grafana/) and Dockerfile. Its tests render every overlay,
// decode each object strictly into the Kubernetes API types and check the safety fields.
package deploy
