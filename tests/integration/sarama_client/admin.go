package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/Shopify/sarama"
)

// The admin subcommands each make one call of Sarama's ClusterAdmin, the API Sarama's
// users manage topics with, and print what it returned. A refusal is printed as
// "broker error CODE: ..." so that a test can compare the Kafka error code.

// configFlag collects repeated -config key=value flags ("key=" sets an empty value).
type configFlag map[string]*string

func (c configFlag) String() string { return "" }

func (c configFlag) Set(s string) error {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return fmt.Errorf("%q is not key=value", s)
	}
	value := s[eq+1:]
	c[s[:eq]] = &value
	return nil
}

func newAdmin(common *commonFlags) (sarama.ClusterAdmin, error) {
	cfg, err := common.config()
	if err != nil {
		return nil, err
	}
	cfg.Admin.Timeout = common.timeout
	admin, err := sarama.NewClusterAdmin(common.brokerList(), cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", common.brokers, err)
	}
	return admin, nil
}

// describeAdminError names the Kafka error code of a ClusterAdmin refusal when Sarama
// kept it (a KError, or a topic error with the broker's message).
func describeAdminError(err error) error {
	switch e := err.(type) {
	case sarama.KError:
		return fmt.Errorf("broker error %d: %v", int16(e), e)
	case *sarama.TopicError:
		return withCode(e.Err, e.ErrMsg)
	case *sarama.TopicPartitionError:
		return withCode(e.Err, e.ErrMsg)
	}
	return err
}

func withCode(kerr sarama.KError, msg *string) error {
	if msg == nil {
		return fmt.Errorf("broker error %d: %v", int16(kerr), kerr)
	}
	return fmt.Errorf("broker error %d: %v: %s", int16(kerr), kerr, *msg)
}

// runCreateTopic calls ClusterAdmin.CreateTopic with either -partitions and
// -replication-factor or a -assignment ({"partition": [broker ids]}, where Kafka wants -1
// for both counts).
func runCreateTopic(args []string) error {
	fs, common := newFlags("create-topic")
	topic := fs.String("topic", "", "topic to create")
	partitions := fs.Int("partitions", 1, "partitions (-1 with -assignment)")
	replication := fs.Int("replication-factor", 1, "replication factor (-1 with -assignment)")
	assignment := fs.String("assignment", "", `replica assignment as JSON, {"0": [0]}`)
	configs := configFlag{}
	fs.Var(configs, "config", "topic config key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	detail := &sarama.TopicDetail{NumPartitions: int32(*partitions),
		ReplicationFactor: int16(*replication), ConfigEntries: configs}
	if *assignment != "" {
		var byPartition map[string][]int32
		if err := json.Unmarshal([]byte(*assignment), &byPartition); err != nil {
			return fmt.Errorf("-assignment: %w", err)
		}
		detail.ReplicaAssignment = map[int32][]int32{}
		for p, replicas := range byPartition {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return fmt.Errorf("-assignment: partition %q: %w", p, err)
			}
			detail.ReplicaAssignment[int32(n)] = replicas
		}
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.CreateTopic(*topic, detail, false); err != nil {
		return describeAdminError(err)
	}
	return emit(map[string]interface{}{"created": *topic})
}

// runDescribeConfig prints every entry ClusterAdmin.DescribeConfig returns for a topic
// (DescribeConfigs v0: an entry says whether it is the default, not where it came from).
func runDescribeConfig(args []string) error {
	fs, common := newFlags("describe-config")
	topic := fs.String("topic", "", "topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource,
		Name: *topic})
	if err != nil {
		return describeAdminError(err)
	}
	type entry struct {
		Value     string `json:"value"`
		Default   bool   `json:"default"`
		ReadOnly  bool   `json:"read_only"`
		Sensitive bool   `json:"sensitive"`
	}
	out := map[string]entry{}
	for _, e := range entries {
		if _, dup := out[e.Name]; dup {
			return fmt.Errorf("%s described twice", e.Name)
		}
		out[e.Name] = entry{Value: e.Value, Default: e.Default, ReadOnly: e.ReadOnly,
			Sensitive: e.Sensitive}
	}
	return emit(map[string]interface{}{"configs": out})
}

// runAlterConfig calls ClusterAdmin.AlterConfig, which makes the -config entries the
// topic's whole set of overrides. Sarama returns only the broker's error message; on a
// refusal the same request is sent again with validate_only set, to name the code.
func runAlterConfig(args []string) error {
	fs, common := newFlags("alter-config")
	topic := fs.String("topic", "", "topic")
	configs := configFlag{}
	fs.Var(configs, "config", "topic config key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	err = admin.AlterConfig(sarama.TopicResource, *topic, configs, false)
	if err == nil {
		return emit(map[string]interface{}{"altered": *topic})
	}
	code, codeErr := alterConfigsErrorCode(common, *topic, configs)
	if codeErr != nil {
		return fmt.Errorf("%v (and asking again for the error code: %v)", err, codeErr)
	}
	return fmt.Errorf("broker error %d: %v: %v", code, sarama.KError(code), err)
}

func alterConfigsErrorCode(common *commonFlags, topic string,
	configs map[string]*string) (int16, error) {
	cfg, err := common.config()
	if err != nil {
		return 0, err
	}
	client, err := sarama.NewClient(common.brokerList(), cfg)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	controller, err := client.Controller()
	if err != nil {
		return 0, err
	}
	resp, err := controller.AlterConfigs(&sarama.AlterConfigsRequest{ValidateOnly: true,
		Resources: []*sarama.AlterConfigsResource{{Type: sarama.TopicResource, Name: topic,
			ConfigEntries: configs}}})
	if err != nil {
		return 0, err
	}
	for _, r := range resp.Resources {
		if r.Name == topic {
			return r.ErrorCode, nil
		}
	}
	return 0, fmt.Errorf("no answer for %s", topic)
}

func runDeleteTopic(args []string) error {
	fs, common := newFlags("delete-topic")
	topic := fs.String("topic", "", "topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.DeleteTopic(*topic); err != nil {
		return describeAdminError(err)
	}
	return emit(map[string]interface{}{"deleted": *topic})
}

func runCreatePartitions(args []string) error {
	fs, common := newFlags("create-partitions")
	topic := fs.String("topic", "", "topic")
	count := fs.Int("count", 0, "the topic's new number of partitions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.CreatePartitions(*topic, int32(*count), nil, false); err != nil {
		return describeAdminError(err)
	}
	return emit(map[string]interface{}{"topic": *topic, "partitions": *count})
}

// runListTopics prints what ClusterAdmin.ListTopics returns: per topic its partitions,
// replicas and the configs that are not at their default.
func runListTopics(args []string) error {
	fs, common := newFlags("list-topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return describeAdminError(err)
	}
	type topicDetail struct {
		Partitions        int32              `json:"partitions"`
		ReplicationFactor int16              `json:"replication_factor"`
		Replicas          map[string][]int32 `json:"replicas"`
		Configs           map[string]*string `json:"configs"`
	}
	out := map[string]topicDetail{}
	for name, d := range topics {
		replicas := map[string][]int32{}
		for p, r := range d.ReplicaAssignment {
			sorted := append([]int32(nil), r...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			replicas[strconv.Itoa(int(p))] = sorted
		}
		out[name] = topicDetail{Partitions: d.NumPartitions,
			ReplicationFactor: d.ReplicationFactor, Replicas: replicas, Configs: d.ConfigEntries}
	}
	return emit(map[string]interface{}{"topics": out})
}

// runDeleteRecords calls ClusterAdmin.DeleteRecords with -offsets partition=offset,...
// Sarama 1.22 drops the per-partition answers (errors and new log start offsets), so a
// test checks the effect with the offsets and consume subcommands.
func runDeleteRecords(args []string) error {
	fs, common := newFlags("delete-records")
	topic := fs.String("topic", "", "topic")
	offsets := fs.String("offsets", "", "comma-separated partition=offset: delete below it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" || *offsets == "" {
		return fmt.Errorf("-topic and -offsets are required")
	}
	below := map[int32]int64{}
	for _, field := range strings.Split(*offsets, ",") {
		parts := strings.SplitN(field, "=", 2)
		if len(parts) != 2 {
			return fmt.Errorf("-offsets: %q is not partition=offset", field)
		}
		p, err := strconv.ParseInt(parts[0], 10, 32)
		if err != nil {
			return fmt.Errorf("-offsets: %w", err)
		}
		o, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return fmt.Errorf("-offsets: %w", err)
		}
		below[int32(p)] = o
	}
	admin, err := newAdmin(common)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.DeleteRecords(*topic, below); err != nil {
		return describeAdminError(err)
	}
	return emit(map[string]interface{}{"topic": *topic})
}
