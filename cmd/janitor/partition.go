package main

import (
	"fmt"
	"os"

	"github.com/janitorhq/janitor/janitor"
)

// PartitionEnv sets --partition when the flag is not given: an Indexed Job's pod spec
// can set it from $(JOB_COMPLETION_INDEX).
const PartitionEnv = "JANITOR_PARTITION"

// partitionFrom reads --partition (or JANITOR_PARTITION) and, when set, keeps this
// pod's share of the shards. The share is the whole fleet of this process: its metrics
// group, last success and Slack report are the partition's, and a partitioned run that
// succeeds sets its partition's last success.
func (a *app) partitionFrom(cmd, flagValue string) error {
	source, value := "--partition", flagValue
	if value == "" {
		if v, ok := os.LookupEnv(PartitionEnv); ok {
			source, value = PartitionEnv, v
		}
	}
	if value == "" {
		return nil
	}
	p, err := janitor.ParsePartition(source, value)
	if err != nil {
		return err
	}
	if cmd == "serve" {
		return fmt.Errorf("%s belongs to report and run (an Indexed Job's pods); serve visits every configured shard", source)
	}
	a.partition = &p
	a.fleet = p.Keep(a.fleet)
	a.cfg.Shards = p.Keep(a.cfg.Shards)
	a.log.Info("partition", "partition", p.String(), "shards", len(a.fleet))
	return nil
}
