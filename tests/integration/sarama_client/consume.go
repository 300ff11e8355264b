package main

import (
	"fmt"
	"time"

	"github.com/Shopify/sarama"
)

// runConsume reads one partition from -offset (-2 oldest, -1 newest) with Sarama's
// partition consumer until -count records arrived, and prints them.
//
// The fetch size flags are the limits Sarama 1.22 has: each Fetch asks for
// -fetch-default bytes of the partition, doubled up to -fetch-max while the broker
// returns only a partial record batch (then Sarama gives up on the record with
// ErrMessageTooLarge); the request's own max_bytes is sarama.MaxResponseSize, which is
// also the largest response Sarama accepts.
func runConsume(args []string) error {
	fs, common := newFlags("consume")
	topic := fs.String("topic", "", "topic to read")
	partition := fs.Int("partition", 0, "partition to read")
	offset := fs.Int64("offset", sarama.OffsetOldest, "first offset (-2 oldest, -1 newest)")
	count := fs.Int("count", 1, "records to read before exiting")
	fetchDefault := fs.Int("fetch-default", 0, "Consumer.Fetch.Default (0: Sarama's 1 MiB)")
	fetchMax := fs.Int("fetch-max", 0, "Consumer.Fetch.Max (0: no limit)")
	maxResponse := fs.Int("max-response-size", 0,
		"sarama.MaxResponseSize, the Fetch max_bytes (0: Sarama's 100 MiB)")
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
	cfg.Consumer.Return.Errors = true
	if *fetchDefault > 0 {
		cfg.Consumer.Fetch.Default = int32(*fetchDefault)
	}
	cfg.Consumer.Fetch.Max = int32(*fetchMax)
	if *maxResponse > 0 {
		sarama.MaxResponseSize = int32(*maxResponse)
	}
	consumer, err := sarama.NewConsumer(common.brokerList(), cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", common.brokers, err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(*topic, int32(*partition), *offset)
	if err != nil {
		return fmt.Errorf("%s/%d from offset %d: %w", *topic, *partition, *offset, err)
	}
	defer pc.Close()

	records := []record{}
	deadline := time.After(common.timeout)
	for len(records) < *count {
		select {
		case m := <-pc.Messages():
			p := m.Partition
			records = append(records, record{Partition: &p, Offset: m.Offset, Key: m.Key,
				Value: m.Value, TimestampMs: millis(m.Timestamp)})
		case err := <-pc.Errors():
			return err
		case <-deadline:
			return fmt.Errorf("timed out after %v with %d of %d records", common.timeout,
				len(records), *count)
		}
	}
	return emit(map[string]interface{}{"records": records})
}
