package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

// runProduce sends the records given on stdin, one JSON object per line
// ({"key": base64|null, "value": base64, "timestamp_ms": n, "partition": p}), with a sync
// producer (acks=all unless -acks says otherwise), and prints the offset, partition and
// timestamp of each record in input order. The timestamp is the broker's append time
// when the Produce response carried one (a LogAppendTime topic), else the record's own.
//
// With -batch N the records go N at a time through SendMessages and the producer flushes
// exactly N records per request, so each group of N becomes one record batch per
// partition.
func runProduce(args []string) error {
	fs, common := newFlags("produce")
	topic := fs.String("topic", "", "topic to write to")
	partition := fs.Int("partition", 0, "partition for records that name none")
	codecName := fs.String("codec", "none", "none, gzip, snappy, lz4 or zstd")
	batch := fs.Int("batch", 1, "records per record batch")
	idempotent := fs.Bool("idempotent", false, "idempotent producer (producer id and sequences)")
	acks := fs.String("acks", "all", "all (every in-sync replica) or local (the leader)")
	pause := fs.Duration("pause", 0, "wait this long after each request, so a test can act "+
		"while the producer is idle")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" || *batch < 1 {
		return fmt.Errorf("-topic is required and -batch must be at least 1")
	}
	codec, err := parseCodec(*codecName)
	if err != nil {
		return err
	}
	msgs, err := readRecords(*topic, int32(*partition))
	if err != nil {
		return err
	}

	cfg, err := common.config()
	if err != nil {
		return err
	}
	switch *acks {
	case "all":
		cfg.Producer.RequiredAcks = sarama.WaitForAll
	case "local":
		cfg.Producer.RequiredAcks = sarama.WaitForLocal
	default:
		return fmt.Errorf("-acks: %q is neither all nor local", *acks)
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	cfg.Producer.Timeout = common.timeout
	cfg.Producer.Retry.Max = 5
	if *batch > 1 {
		cfg.Producer.Flush.Messages = *batch
		cfg.Producer.Flush.MaxMessages = *batch
		// Only a last, shorter group waits for this.
		cfg.Producer.Flush.Frequency = 200 * time.Millisecond
	}
	if *idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}

	producer, err := sarama.NewSyncProducer(common.brokerList(), cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", common.brokers, err)
	}
	for start := 0; start < len(msgs); start += *batch {
		end := start + *batch
		if end > len(msgs) {
			end = len(msgs)
		}
		if err := producer.SendMessages(msgs[start:end]); err != nil {
			producer.Close()
			return describeProduceError(err)
		}
		time.Sleep(*pause)
	}
	if err := producer.Close(); err != nil {
		return err
	}

	offsets := make([]int64, len(msgs))
	partitions := make([]int32, len(msgs))
	timestamps := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.Offset
		partitions[i] = m.Partition
		timestamps[i] = millis(m.Timestamp)
	}
	return emit(map[string]interface{}{
		"topic": *topic, "codec": *codecName, "offsets": offsets, "partitions": partitions,
		"timestamps": timestamps,
	})
}

func readRecords(topic string, partition int32) ([]*sarama.ProducerMessage, error) {
	var msgs []*sarama.ProducerMessage
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; scanner.Scan(); line++ {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("stdin line %d: %w", line, err)
		}
		m := &sarama.ProducerMessage{Topic: topic, Partition: partition}
		if r.Partition != nil {
			m.Partition = *r.Partition
		}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		if r.TimestampMs > 0 {
			m.Timestamp = time.Unix(0, r.TimestampMs*int64(time.Millisecond))
		}
		msgs = append(msgs, m)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("no records on stdin")
	}
	return msgs, nil
}

// describeProduceError names the broker's error code, which is what a test compares.
func describeProduceError(err error) error {
	if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
		first := errs[0]
		if kerr, ok := first.Err.(sarama.KError); ok {
			return fmt.Errorf("%d of the records failed; first at partition %d: "+
				"broker error %d: %v", len(errs), first.Msg.Partition, int16(kerr), kerr)
		}
		return fmt.Errorf("%d of the records failed; first at partition %d: %v",
			len(errs), first.Msg.Partition, first.Err)
	}
	return err
}
