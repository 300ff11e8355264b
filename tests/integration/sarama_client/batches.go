package main

import (
	"fmt"

	"github.com/Shopify/sarama"
)

// runBatches fetches a partition from offset 0 to its high watermark and prints each
// record batch's header as stored: how a test checks that records shared a batch, which
// codec it used and what its max_timestamp field holds (-1 as Sarama writes it). It also
// prints how many whole batches each Fetch response brought, under the request's
// -max-bytes and the partition's -partition-max-bytes.
func runBatches(args []string) error {
	fs, common := newFlags("batches")
	topic := fs.String("topic", "", "topic")
	partition := fs.Int("partition", 0, "partition")
	maxBytes := fs.Int("max-bytes", 64<<20, "the Fetch request's max_bytes")
	partitionMaxBytes := fs.Int("partition-max-bytes", 16<<20, "the partition's max_bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
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

	type batchHeader struct {
		BaseOffset     int64  `json:"base_offset"`
		Records        int    `json:"records"`
		LastOffset     int64  `json:"last_offset"`
		Codec          string `json:"codec"`
		FirstTimestamp int64  `json:"first_timestamp"`
		MaxTimestamp   int64  `json:"max_timestamp"`
		LogAppendTime  bool   `json:"log_append_time"`
		ProducerID     int64  `json:"producer_id"`
		FirstSequence  int32  `json:"first_sequence"`
	}
	batches := []batchHeader{}
	perFetch := []int{}
	next := int64(0)
	for {
		before := next
		req := &sarama.FetchRequest{Version: 4, MinBytes: 1, MaxWaitTime: 100,
			MaxBytes: int32(*maxBytes)}
		req.AddBlock(*topic, int32(*partition), next, int32(*partitionMaxBytes))
		resp, err := leader.Fetch(req)
		if err != nil {
			return fmt.Errorf("fetch from %d: %w", next, err)
		}
		block := resp.GetBlock(*topic, int32(*partition))
		if block == nil {
			return fmt.Errorf("fetch from %d: no answer for %s/%d", next, *topic, *partition)
		}
		if block.Err != sarama.ErrNoError {
			return fmt.Errorf("fetch from %d: broker error %d: %v", next, int16(block.Err),
				block.Err)
		}
		whole := 0
		for _, rs := range block.RecordsSet {
			b := rs.RecordBatch
			if b == nil || b.PartialTrailingRecord || b.LastOffset() < next {
				continue
			}
			batches = append(batches, batchHeader{BaseOffset: b.FirstOffset,
				Records: len(b.Records), LastOffset: b.LastOffset(), Codec: b.Codec.String(),
				FirstTimestamp: millis(b.FirstTimestamp), MaxTimestamp: millis(b.MaxTimestamp),
				LogAppendTime: b.LogAppendTime, ProducerID: b.ProducerID,
				FirstSequence: b.FirstSequence})
			next = b.LastOffset() + 1
			whole++
		}
		perFetch = append(perFetch, whole)
		if next >= block.HighWaterMarkOffset {
			break
		}
		if next == before {
			return fmt.Errorf("fetch from %d returned no whole batch below the high "+
				"watermark %d", next, block.HighWaterMarkOffset)
		}
	}
	return emit(map[string]interface{}{"batches": batches, "batches_per_fetch": perFetch})
}
