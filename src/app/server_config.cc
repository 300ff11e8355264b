#include "app/server_config.h"

#include <array>
#include <string_view>

#include "cli/env.h"

namespace app {
namespace {

using base::config_key;
using base::config_type;

constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};
constexpr std::array<std::string_view, 2> kHttpAuth = {"none", "basic"};
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 3> kDurability = {"fsync", "interval", "page_cache"};

constexpr int64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr int64_t kDay = 24LL * 3600 * 1000;

const config_key kKeys[] = {
    {.name = "data_dir",
     .type = config_type::string,
     .default_value = "./data",
     .description = "Directory holding every partition's segments; created if missing."},
    {.name = "kafka_listen",
     .type = config_type::string,
     .default_value = "127.0.0.1:9092",
     .description = "HOST:PORT the Kafka protocol listener binds to (port 0 picks a free one)."},
    {.name = "kafka_advertised_host",
     .type = config_type::string,
     .default_value = "",
     .description = "Host name clients are told to connect to; empty: the listen host."},
    {.name = "http_listen",
     .type = config_type::string,
     .default_value = "127.0.0.1:9644",
     .description = "HOST:PORT of the HTTP listener: the JSON API under /v1 (described at "
                    "/v1/openapi.json), /metrics, /healthz and /readyz; port 0 picks a free one."},
    {.name = "http.max_body_bytes",
     .type = config_type::size,
     .default_value = "8MiB",
     .description = "Largest HTTP request body (after gzip decompression); a larger one is "
                    "answered 413 and the connection closed.",
     .min = 1024,
     .max = 1ll << 30},
    {.name = "http.max_header_bytes",
     .type = config_type::size,
     .default_value = "16KiB",
     .description = "Largest HTTP request line and headers; larger ones are answered 431.",
     .min = 1024,
     .max = 1 << 20},
    {.name = "http.request_timeout",
     .type = config_type::duration,
     .default_value = "30s",
     .description = "Longest an HTTP request body may take to arrive once its headers have; a "
                    "slower one is answered 408 and the connection closed.",
     .min = 100,
     .max = kDay},
    {.name = "http.idle_timeout",
     .type = config_type::duration,
     .default_value = "60s",
     .description = "An HTTP connection with no request (or no complete headers) for this long "
                    "is closed.",
     .min = 100,
     .max = kDay},
    {.name = "http.write_timeout",
     .type = config_type::duration,
     .default_value = "60s",
     .description = "Longest an HTTP client may take to read one response.",
     .min = 100,
     .max = kDay},
    {.name = "http.memory_budget",
     .type = config_type::size,
     .default_value = "64MiB",
     .description = "Per shard: memory for HTTP request bodies being handled; a request that "
                    "would pass it is answered 503 with Retry-After.",
     .min = 1 << 20,
     .max = 1ll << 40},
    {.name = "http.max_connections",
     .type = config_type::integer,
     .default_value = "10000",
     .description = "HTTP connections open at once; more are closed as they arrive.",
     .min = 1,
     .max = 10000000},
    {.name = "http.cors_origins",
     .type = config_type::string,
     .default_value = "",
     .description = "Origins browsers may call the HTTP API from (CORS): empty (off), * or a "
                    "comma-separated list such as https://app.example.com."},
    {.name = "http.access_log",
     .type = config_type::boolean,
     .default_value = "true",
     .description = "Log one line per HTTP request (logger http.access): method, path, "
                    "status, route, bytes, milliseconds, request id, client."},
    {.name = "http.max_consumers",
     .type = config_type::integer,
     .default_value = "1000",
     .description = "HTTP consumers (group members the broker keeps for HTTP clients) at once; "
                    "creating more is answered 429.",
     .min = 1,
     .max = 1000000},
    {.name = "http.consumer_timeout",
     .type = config_type::duration,
     .default_value = "5m",
     .description = "An HTTP consumer that is not polled for this long leaves its group and is "
                    "deleted.",
     .min = 1000,
     .max = kDay},
    {.name = "http.stream_send_buffer",
     .type = config_type::size,
     .default_value = "1MiB",
     .description = "Bytes an SSE or WebSocket client may leave unread before it is "
                    "disconnected as too slow (WebSocket close code 1008).",
     .min = 4096,
     .max = 1ll << 30},
    {.name = "http.max_wait",
     .type = config_type::duration,
     .default_value = "30s",
     .description = "Longest wait an HTTP read may ask for with timeout_ms.",
     .min = 0,
     .max = 5 * 60 * 1000},
    {.name = "shards",
     .type = config_type::integer,
     .default_value = "0",
     .description = "Threads serving requests, each owning a share of the partitions; 0: one per "
                    "CPU core.",
     .min = 0,
     .max = 256},
    {.name = "topics.auto_create",
     .type = config_type::boolean,
     .default_value = "true",
     .description = "Create a topic when a client asks for the metadata of one that is missing."},
    {.name = "topics.default_partitions",
     .type = config_type::integer,
     .default_value = "1",
     .description = "Partitions of an automatically created topic (and of CreateTopics without "
                    "a count).",
     .min = 1,
     .max = 100000},
    {.name = "kafka.max_request_bytes",
     .type = config_type::size,
     .default_value = "100MiB",
     .description = "Largest Kafka request accepted; a larger size prefix closes the connection.",
     .min = 1 * KiB,
     .max = 1 * GiB},
    {.name = "kafka.request_timeout",
     .type = config_type::duration,
     .default_value = "30s",
     .description = "Longest a request's body may take to arrive once its size has: a slower "
                    "client is disconnected and the memory reserved for the body freed. With "
                    "kafka.sasl_mechanisms, also how long a new connection has to authenticate.",
     .min = 100,
     .max = kDay},
    {.name = "kafka.fetch_max_wait",
     .type = config_type::duration,
     .default_value = "30s",
     .description = "Longest a Fetch long poll waits for data, whatever max_wait_ms it asks "
                    "for (clients ask 500 ms by default).",
     .min = 0,
     .max = kDay},
    {.name = "kafka.fetch_max_bytes",
     .type = config_type::size,
     .default_value = "55MiB",
     .description = "Most record bytes one Fetch response carries, whatever max_bytes it asks "
                    "for (the first batch may exceed it, as in Kafka).",
     .min = 1 * KiB,
     .max = 1 * GiB},
    {.name = "kafka.memory_budget",
     .type = config_type::size,
     .default_value = "256MiB",
     .description = "Per shard: memory for Kafka requests being read and handled, their decoded "
                    "form and responses not yet read by their clients. New requests wait when "
                    "it is spent; one connection may hold an eighth of it before it is no "
                    "longer read, and one request may decode into at most an eighth.",
     .min = 1 * MiB,
     .max = 64 * GiB},
    {.name = "kafka.write_timeout",
     .type = config_type::duration,
     .default_value = "60s",
     .description = "Longest a client may take to read one response; a slower one is "
                    "disconnected and the memory its responses held freed.",
     .min = 100,
     .max = kDay},
    {.name = "kafka.max_connections",
     .type = config_type::integer,
     .default_value = "10000",
     .description = "Kafka connections open at once; more are closed as they arrive. Each "
                    "holds a file descriptor.",
     .min = 1,
     .max = 10000000},
    {
        .name = "kafka.sasl_mechanisms",
        .type = config_type::string,
        .default_value = "",
        .description = "SASL mechanisms the Kafka listener requires clients to authenticate "
                       "with, comma-separated, among SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN "
                       "(SASL_PLAINTEXT in client terms); empty: clients are not authenticated "
                       "(PLAINTEXT). Users are kept salted in users.json in the data directory "
                       "(riptide user create).",
    },
    {.name = "http.auth",
     .type = config_type::choice,
     .default_value = "none",
     .description = "How HTTP clients authenticate: none (every client is anonymous) or basic "
                    "(HTTP basic authentication with the SCRAM users of riptide user create; "
                    "/healthz, /readyz and CORS preflights stay open).",
     .choices = kHttpAuth},
    {.name = "security.allow_unauthenticated_network",
     .type = config_type::boolean,
     .default_value = "false",
     .description = "Start even though a listener binds an address other than loopback "
                    "without authentication (kafka.sasl_mechanisms, http.auth), so anyone "
                    "who can connect may do anything. Without it, serve refuses to start."},
    {
        .name = "security.super_users",
        .type = config_type::string,
        .default_value = "",
        .description = "Principals allowed to manage SCRAM users over the Kafka API "
                       "(AlterUserScramCredentials, DescribeUserScramCredentials), separated "
                       "by commas or semicolons: \"User:admin;User:ops\". Without SASL every "
                       "Kafka client is User:ANONYMOUS.",
    },
    {.name = "kafka.max_connections_per_ip",
     .type = config_type::integer,
     .default_value = "1000",
     .description = "Kafka connections open at once from one client address; more are closed "
                    "as they arrive.",
     .min = 1,
     .max = 10000000},
    {.name = "log.format",
     .type = config_type::choice,
     .default_value = "text",
     .description = "Server log format on stderr: human-readable text or JSON lines.",
     .choices = kLogFormats},
    {.name = "log.level",
     .type = config_type::choice,
     .default_value = "info",
     .description = "Least severe server log level written.",
     .choices = kLogLevels},
    {.name = "storage.durability",
     .type = config_type::choice,
     .default_value = "fsync",
     .description =
         "When a write is acknowledged: fsync = after an fsync covering it (group commit; "
         "nothing acknowledged is lost on power failure); interval = at once, fsync every "
         "storage.flush_interval; page_cache = at once, the kernel writes back.",
     .choices = kDurability},
    {.name = "storage.flush_interval",
     .type = config_type::duration,
     .default_value = "1s",
     .description = "How often the interval durability policy fsyncs dirty data.",
     .min = 1,
     .max = kDay},
    {.name = "storage.segment_bytes",
     .type = config_type::size,
     .default_value = "1GiB",
     .description = "A partition's active segment rolls before it would grow past this size.",
     .min = 1 * MiB,
     .max = 2 * GiB},
    {.name = "storage.segment_age",
     .type = config_type::duration,
     .default_value = "7d",
     .description = "A partition's active segment rolls once it is this old.",
     .min = 1000,
     .max = 365 * kDay},
    {.name = "storage.retention_bytes",
     .type = config_type::size,
     .default_value = "-1",
     .description = "Per partition, delete the oldest segments beyond this size; -1: no limit.",
     .min = -1},
    {.name = "storage.retention",
     .type = config_type::duration,
     .default_value = "7d",
     .description = "Delete segments whose newest record is older than this; -1: keep forever.",
     .min = -1},
    {.name = "storage.max_batch_bytes",
     .type = config_type::size,
     .default_value = "1048588",
     .description = "Largest record batch accepted (Kafka's max.message.bytes).",
     .min = 1 * KiB,
     .max = 1 * GiB},
    {.name = "storage.max_decompressed_batch_bytes",
     .type = config_type::size,
     .default_value = "64MiB",
     .description = "Most a compressed batch's records may take once decompressed; a batch "
                    "that would take more is refused (INVALID_RECORD) as a compression bomb.",
     .min = 1 * MiB,
     .max = 1 * GiB},
    {.name = "storage.index_interval_bytes",
     .type = config_type::size,
     .default_value = "4KiB",
     .description = "Bytes of log between two entries of the sparse offset and time indexes.",
     .min = 256,
     .max = 16 * MiB},
    {.name = "storage.min_free_bytes",
     .type = config_type::size,
     .default_value = "64MiB",
     .description = "Writes are refused (disk full) while the data directory's file system "
                    "has less free space than this, and accepted again once it has more.",
     .min = 0},
    {.name = "storage.flush_threads",
     .type = config_type::integer,
     .default_value = "2",
     .description = "Threads running fsyncs and other blocking file work off the shards.",
     .min = 1,
     .max = 64},
    {
        .name = "storage.journal",
        .type = config_type::boolean,
        .default_value = "true",
        .description =
            "Under durability fsync, append each write to a per-shard journal as well: one "
            "fdatasync of the journal acknowledges the writes to every partition of the shard, "
            "and segments are fsynced in the background. Off: one fdatasync per partition.",
    },
    {.name = "storage.journal_file_bytes",
     .type = config_type::size,
     .default_value = "16MiB",
     .description = "Size of each journal file (zero-filled when made, reused once its "
                    "partitions have fsynced their segments). Larger writes bypass the journal.",
     .min = 1 * MiB,
     .max = 1 * GiB},
    {.name = "storage.max_open_segment_files",
     .type = config_type::integer,
     .default_value = "1024",
     .description = "Open .log files of sealed (older) segments, over all partitions: the least "
                    "recently read are closed beyond it and reopened when read. Each partition "
                    "also holds its active segment's file open.",
     .min = 16,
     .max = 1048576},
    {.name = "storage.housekeeping_interval",
     .type = config_type::duration,
     .default_value = "10s",
     .description = "How often retention is applied, compacted topics are checked for "
                    "cleaning and partitions that could not be opened are tried again.",
     .min = 100,
     .max = kDay},
    {.name = "storage.cleaner_buffer_bytes",
     .type = config_type::size,
     .default_value = "32MiB",
     .description = "Memory of the log cleaner's offset map (24 bytes per key) for compacted "
                    "topics; a partition with more keys in its uncleaned part is cleaned over "
                    "several rounds.",
     .min = 64 * KiB,
     .max = 16 * GiB},
    {.name = "storage.cleaner_io_bytes_per_second",
     .type = config_type::size,
     .default_value = "100MiB",
     .description = "Most the log cleaner reads plus writes per second, over all partitions; "
                    "0: no limit.",
     .min = 0},
    {.name = "storage.producer_expiry",
     .type = config_type::duration,
     .default_value = "1d",
     .description = "An idempotent producer that has not written to a partition for this "
                    "long is forgotten there (Kafka's producer.id.expiration.ms).",
     .min = 1000,
     .max = 365 * kDay},
    {.name = "groups.offsets_partitions",
     .type = config_type::integer,
     .default_value = "8",
     .description = "Partitions of the __consumer_offsets topic holding committed offsets; "
                    "fixed when the data directory is created.",
     .min = 1,
     .max = 1024},
    {.name = "groups.offsets_retention",
     .type = config_type::duration,
     .default_value = "7d",
     .description = "Committed offsets of a group without members are deleted after this "
                    "long (Kafka's offsets.retention.minutes).",
     .min = 1000,
     .max = 3650 * kDay},
    {.name = "groups.min_session_timeout",
     .type = config_type::duration,
     .default_value = "6s",
     .description = "Smallest session.timeout.ms a consumer may ask for "
                    "(INVALID_SESSION_TIMEOUT below it).",
     .min = 1,
     .max = kDay},
    {.name = "groups.max_session_timeout",
     .type = config_type::duration,
     .default_value = "30m",
     .description = "Largest session.timeout.ms a consumer may ask for "
                    "(INVALID_SESSION_TIMEOUT above it).",
     .min = 1,
     .max = kDay},
    {.name = "groups.max_rebalance_timeout",
     .type = config_type::duration,
     .default_value = "30m",
     .description = "Longest a rebalance waits for members to rejoin, whatever rebalance "
                    "timeout (max.poll.interval.ms) they ask for; a member that has not "
                    "rejoined by then leaves the group.",
     .min = 1,
     .max = kDay},
    {.name = "groups.initial_rebalance_delay",
     .type = config_type::duration,
     .default_value = "3s",
     .description = "How long a new group waits for more members before its first "
                    "rebalance completes (Kafka's group.initial.rebalance.delay.ms).",
     .min = 0,
     .max = 300000},
    {.name = "groups.max_groups",
     .type = config_type::integer,
     .default_value = "100000",
     .description = "Consumer groups the broker keeps (members or committed offsets); a new "
                    "one beyond is refused with POLICY_VIOLATION.",
     .min = 1,
     .max = 100000000},
    {.name = "queues.max_queues",
     .type = config_type::integer,
     .default_value = "1000",
     .description = "Queue subscriptions the broker keeps (docs/queues.md); creating one "
                    "beyond is refused with 409 limit_exceeded.",
     .min = 1,
     .max = 1000000},
    {.name = "groups.max_members",
     .type = config_type::integer,
     .default_value = "1000",
     .description = "Members one group may have (GROUP_MAX_SIZE_REACHED beyond).",
     .min = 1,
     .max = 100000},
    {.name = "limits.max_topics",
     .type = config_type::integer,
     .default_value = "10000",
     .description = "Topics the broker may hold, __consumer_offsets included. CreateTopics and "
                    "automatic creation beyond it are refused with POLICY_VIOLATION.",
     .min = 1,
     .max = 1000000},
    {.name = "limits.max_partitions",
     .type = config_type::integer,
     .default_value = "10000",
     .description = "Partitions the broker may hold over all topics (each costs file "
                    "descriptors, memory and start time). CreateTopics, CreatePartitions and "
                    "automatic creation beyond it are refused with POLICY_VIOLATION.",
     .min = 1,
     .max = 1000000},
    {.name = "limits.max_topics_per_request",
     .type = config_type::integer,
     .default_value = "1000",
     .description = "Topics one CreateTopics (or Metadata, by automatic creation) request may "
                    "create; the rest are answered THROTTLING_QUOTA_EXCEEDED "
                    "(LEADER_NOT_AVAILABLE in Metadata) and may be sent again.",
     .min = 1,
     .max = 1000000},
    {
        .name = "testing.fault_injection",
        .type = config_type::boolean,
        .default_value = "false",
        .description = "Enables POST /v1/faults/cut-kafka-connections on the HTTP admin "
                       "listener, which makes every Kafka connection close instead of sending "
                       "its next response. For testing clients' retries; never in production.",
    },
};

}  // namespace

std::span<const base::config_key> server_config_keys() {
  return kKeys;
}

storage::log_config log_config_from(const base::config& cfg) {
  storage::log_config c;
  c.policy = *storage::parse_durability(cfg.get_string("storage.durability"));
  c.flush_interval_ms = cfg.get_int("storage.flush_interval");
  c.segment_bytes = static_cast<uint64_t>(cfg.get_int("storage.segment_bytes"));
  c.segment_ms = cfg.get_int("storage.segment_age");
  c.retention_bytes = cfg.get_int("storage.retention_bytes");
  c.retention_ms = cfg.get_int("storage.retention");
  c.max_batch_bytes = static_cast<uint32_t>(cfg.get_int("storage.max_batch_bytes"));
  c.max_decompressed_batch_bytes =
      static_cast<uint64_t>(cfg.get_int("storage.max_decompressed_batch_bytes"));
  c.index_interval_bytes = static_cast<uint32_t>(cfg.get_int("storage.index_interval_bytes"));
  c.producer_expiry_ms = cfg.get_int("storage.producer_expiry");
  return c;
}

storage::cleaner_options cleaner_options_from(const base::config& cfg) {
  storage::cleaner_options c;
  c.buffer_bytes = static_cast<uint64_t>(cfg.get_int("storage.cleaner_buffer_bytes"));
  c.io_bytes_per_second = static_cast<uint64_t>(cfg.get_int("storage.cleaner_io_bytes_per_second"));
  return c;
}

base::config_inputs server_config_inputs_from_environ() {
  auto in = base::config_inputs::from_environ();
  in.ignored_env.assign(cli::client_env_names.begin(), cli::client_env_names.end());
  return in;
}

}  // namespace app
