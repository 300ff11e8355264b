// Command sarama_client drives a Kafka-protocol broker with the Sarama Go client, so the
// integration tests cover a client family that encodes requests and record batches
// differently from librdkafka: Sarama leaves a batch's max_timestamp at -1, sends
// ListOffsets v1 and Produce v3, and balances consumer groups on the client side. The
// admin subcommands (create-topic to delete-records) go through Sarama's ClusterAdmin.
//
// Each subcommand prints one JSON document on stdout (the group subcommand prints one
// JSON object per line as events happen) and, on failure, a message on stderr and a
// non-zero exit code. Keys and values travel as base64 in JSON (null for a null key).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type command struct {
	run     func(args []string) error
	summary string
}

var commands = map[string]command{
	"produce": {runProduce, "send records read from stdin (JSON lines) with a sync producer"},
	"consume": {runConsume, "read one partition from an offset until a number of records"},
	"group":   {runGroup, "join a consumer group, consume and commit, leave after N records"},
	"offsets": {runOffsets, "ListOffsets by timestamp (or -1 newest, -2 oldest)"},
	"batches": {runBatches, "fetch a partition and describe its record batch headers"},

	"create-topic":      {runCreateTopic, "ClusterAdmin.CreateTopic with counts or an assignment"},
	"describe-config":   {runDescribeConfig, "ClusterAdmin.DescribeConfig of a topic"},
	"alter-config":      {runAlterConfig, "ClusterAdmin.AlterConfig: replace a topic's overrides"},
	"delete-topic":      {runDeleteTopic, "ClusterAdmin.DeleteTopic"},
	"create-partitions": {runCreatePartitions, "ClusterAdmin.CreatePartitions: grow a topic"},
	"list-topics":       {runListTopics, "ClusterAdmin.ListTopics: partitions, replicas, overrides"},
	"delete-records":    {runDeleteRecords, "ClusterAdmin.DeleteRecords: move log start offsets"},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sarama_client COMMAND [flags]  (COMMAND -h for its flags)")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-17s %s\n", name, commands[name].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sarama_client: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err == flag.ErrHelp {
		os.Exit(2) // the flag package has printed the flags
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "sarama_client %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// commonFlags are the connection settings every subcommand takes.
type commonFlags struct {
	brokers       string
	version       string
	timeout       time.Duration
	saslMechanism string
	saslUser      string
	saslPassword  string
}

func newFlags(name string) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &commonFlags{}
	fs.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	fs.StringVar(&c.version, "version", "2.1.0", "Kafka version Sarama assumes (request versions)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
	fs.StringVar(&c.saslMechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (none: no SASL)")
	fs.StringVar(&c.saslUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&c.saslPassword, "sasl-password", "", "SASL password")
	return fs, c
}

func (c *commonFlags) brokerList() []string {
	return strings.Split(c.brokers, ",")
}

// config is Sarama's default configuration with the protocol version asked for and
// short retry back-offs, so that a test waiting on a broker stays fast.
func (c *commonFlags) config() (*sarama.Config, error) {
	version, err := sarama.ParseKafkaVersion(c.version)
	if err != nil {
		return nil, err
	}
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "riptide-sarama-test"
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Net.DialTimeout = 10 * time.Second
	if c.saslMechanism != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(c.saslMechanism)
		cfg.Net.SASL.User = c.saslUser
		cfg.Net.SASL.Password = c.saslPassword
		if strings.HasPrefix(c.saslMechanism, "SCRAM-") {
			cfg.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(c.saslMechanism)
		}
	}
	return cfg, nil
}

// record is one record as the tests exchange it with this program.
type record struct {
	Partition   *int32 `json:"partition,omitempty"`
	Offset      int64  `json:"offset"`
	Key         []byte `json:"key"`
	Value       []byte `json:"value"`
	TimestampMs int64  `json:"timestamp_ms"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixNano() / int64(time.Millisecond)
}

var stdoutLock sync.Mutex

// emit writes v as one line of JSON on stdout.
func emit(v interface{}) error {
	stdoutLock.Lock()
	defer stdoutLock.Unlock()
	return json.NewEncoder(os.Stdout).Encode(v)
}

func parseCodec(name string) (sarama.CompressionCodec, error) {
	switch name {
	case "none":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return sarama.CompressionNone, fmt.Errorf("unknown codec %q (none, gzip, snappy, lz4, zstd)", name)
}
