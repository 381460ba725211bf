// Package bench holds janitor's benchmarks against a real MariaDB. They are long and
// build only with -tags bench; see docs/benchmarks.md for the commands and figures.
package bench
