package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Shopify/sarama"
)

// runOffsets asks the partition leader for the offset of each -times entry: a timestamp
// in milliseconds, -1 (the next offset to be written) or -2 (the log start). It prints
// both what ListOffsets v1 answered (offset and timestamp) and what the Client.GetOffset
// API returns, the call Sarama's users make.
func runOffsets(args []string) error {
	fs, common := newFlags("offsets")
	topic := fs.String("topic", "", "topic")
	partition := fs.Int("partition", 0, "partition")
	times := fs.String("times", "", "comma-separated timestamps in ms, -1 or -2")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" || *times == "" {
		return fmt.Errorf("-topic and -times are required")
	}
	cfg, err := common.config()
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(common.brokerList(), cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", common.brokers, err)
	}
	defer client.Close()
	leader, err := client.Leader(*topic, int32(*partition))
	if err != nil {
		return fmt.Errorf("leader of %s/%d: %w", *topic, *partition, err)
	}

	type answer struct {
		Time      int64 `json:"time"`
		Offset    int64 `json:"offset"`
		Timestamp int64 `json:"timestamp"`
		GetOffset int64 `json:"get_offset"`
	}
	answers := []answer{}
	for _, field := range strings.Split(*times, ",") {
		t, err := strconv.ParseInt(strings.TrimSpace(field), 10, 64)
		if err != nil {
			return fmt.Errorf("-times: %w", err)
		}
		req := &sarama.OffsetRequest{Version: 1}
		req.AddBlock(*topic, int32(*partition), t, 1)
		resp, err := leader.GetAvailableOffsets(req)
		if err != nil {
			return fmt.Errorf("ListOffsets for %d: %w", t, err)
		}
		block := resp.GetBlock(*topic, int32(*partition))
		if block == nil {
			return fmt.Errorf("ListOffsets for %d: no answer for %s/%d", t, *topic, *partition)
		}
		if block.Err != sarama.ErrNoError {
			return fmt.Errorf("ListOffsets for %d: broker error %d: %v", t, int16(block.Err),
				block.Err)
		}
		viaClient, err := client.GetOffset(*topic, int32(*partition), t)
		if err != nil {
			return fmt.Errorf("GetOffset(%d): %w", t, err)
		}
		answers = append(answers, answer{Time: t, Offset: block.Offset,
			Timestamp: block.Timestamp, GetOffset: viaClient})
	}
	return emit(map[string]interface{}{"results": answers})
}
