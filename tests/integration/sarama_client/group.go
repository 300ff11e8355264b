package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// runGroup joins -group for -topics and consumes, marking each record it prints so that
// Sarama's offset manager commits it (every -commit-interval and when the session ends).
// It prints one JSON line per event: "assigned" for each generation it joins, "record" for
// each record, and "done" once it has consumed -count records, committed them and left
// the group. Records past -count are neither printed nor marked.
func runGroup(args []string) error {
	fs, common := newFlags("group")
	topics := fs.String("topics", "", "comma-separated topics to subscribe to")
	group := fs.String("group", "", "consumer group id")
	count := fs.Int("count", 1, "records to consume before leaving the group")
	commitInterval := fs.Duration("commit-interval", time.Second,
		"how often marked offsets are committed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topics == "" || *group == "" {
		return fmt.Errorf("-topics and -group are required")
	}
	cfg, err := common.config()
	if err != nil {
		return err
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.CommitInterval = *commitInterval
	// Members notice a rebalance at their next heartbeat: keep it short so a second
	// member's join does not wait seconds for the first one.
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond

	cg, err := sarama.NewConsumerGroup(common.brokerList(), *group, cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", common.brokers, err)
	}
	groupErrors := make(chan error, 1)
	go func() {
		for err := range cg.Errors() {
			select {
			case groupErrors <- err:
			default:
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), common.timeout)
	defer cancel()
	h := &handler{want: *count, done: cancel}
	for ctx.Err() == nil {
		// Consume returns at every rebalance; join again until done or timed out.
		if err := cg.Consume(ctx, strings.Split(*topics, ","), h); err != nil {
			cg.Close()
			return err
		}
		select {
		case err := <-groupErrors:
			cg.Close()
			return err
		default:
		}
	}
	// Leaves the group; the offsets were committed when the last session ended.
	if err := cg.Close(); err != nil {
		return fmt.Errorf("leaving the group: %w", err)
	}
	if n := h.consumed(); n < *count {
		return fmt.Errorf("timed out after %v with %d of %d records", common.timeout, n, *count)
	}
	return emit(map[string]interface{}{"event": "done", "records": *count})
}

// handler is called by Sarama on its own goroutines, one per claimed partition.
type handler struct {
	want int
	done context.CancelFunc

	mu sync.Mutex
	n  int
}

func (h *handler) consumed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	return emit(map[string]interface{}{"event": "assigned", "member": s.MemberID(),
		"generation": s.GenerationID(), "claims": s.Claims()})
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			if err := h.take(s, m); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// take prints and marks m unless -count records were already taken.
func (h *handler) take(s sarama.ConsumerGroupSession, m *sarama.ConsumerMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.want {
		return nil
	}
	h.n++
	p := m.Partition
	err := emit(map[string]interface{}{"event": "record", "topic": m.Topic, "record": record{
		Partition: &p, Offset: m.Offset, Key: m.Key, Value: m.Value,
		TimestampMs: millis(m.Timestamp)}})
	s.MarkMessage(m, "")
	if h.n == h.want {
		h.done()
	}
	return err
}
