#include "app/serve.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include <fmt/ranges.h>

#include "app/reference.h"
#include "app/server_config.h"
#include "auth/users.h"
#include "base/config.h"
#include "base/file.h"
#include "base/logging.h"
#include "broker/broker.h"
#include "http/server.h"
#include "kafka/server/kafka_server.h"
#include "net/shard.h"

namespace app {
namespace {

// Blocks the shutdown signals in this and every thread started later, so that only
// the main thread's sigtimedwait sees them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Raises the soft descriptor limit to the hard one (as much as the process may use
// without privileges); returns the soft limit now in force.
uint64_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(lim.rlim_cur);
}

// The items of a list setting: split at any of `separators`, trimmed, empty ones dropped.
std::vector<std::string> list_setting(const std::string& text, std::string_view separators) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find_first_of(separators, at), text.size());
    std::string item = text.substr(at, end - at);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(std::move(item));
    at = end + 1;
  }
  return out;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

int serve(const serve_options& opts) {
  auto inputs = server_config_inputs_from_environ();
  if (!opts.config_file.empty()) inputs.file = opts.config_file;
  inputs.flags = opts.flags;
  if (opts.print_example) {
    std::fputs(base::render_example_toml(server_config_keys()).c_str(), stdout);
    return 0;
  }
  if (opts.print_config_reference) {
    std::fputs(render_config_reference(server_config_keys()).c_str(), stdout);
    return 0;
  }
  if (opts.print_kafka_apis) {
    std::fputs(render_kafka_apis(kafka::supported_apis()).c_str(), stdout);
    return 0;
  }
  if (opts.print_topic_configs) {
    std::fputs(render_topic_configs().c_str(), stdout);
    return 0;
  }
  auto loaded = base::load(server_config_keys(), inputs);
  if (!loaded) {
    std::fprintf(stderr, "riptide: invalid configuration:\n%s\n", loaded.error().message.c_str());
    return 2;
  }
  const base::config& cfg = *loaded;
  if (opts.print_config) {
    std::fputs(base::render_effective(cfg).c_str(), stdout);
    return 0;
  }
  const auto sasl_mechanisms = list_setting(cfg.get_string("kafka.sasl_mechanisms"), ",");
  for (const auto& m : sasl_mechanisms) {
    if (!kafka::known_sasl_mechanism(m)) {
      std::fprintf(stderr,
                   "riptide: invalid configuration:\nunknown SASL mechanism \"%s\" in "
                   "kafka.sasl_mechanisms: expected a comma-separated list of SCRAM-SHA-512, "
                   "SCRAM-SHA-256 and PLAIN\n",
                   m.c_str());
      return 2;
    }
  }
  const auto super_users = list_setting(cfg.get_string("security.super_users"), ",;");
  for (const auto& p : super_users) {
    if (p.rfind("User:", 0) != 0) {
      std::fprintf(stderr,
                   "riptide: invalid configuration:\ninvalid principal \"%s\" in "
                   "security.super_users: expected User:NAME, such as User:admin\n",
                   p.c_str());
      return 2;
    }
  }
  auto listen = net::listen_address::parse(cfg.get_string("kafka_listen"));
  auto http_listen = net::listen_address::parse(cfg.get_string("http_listen"));
  const bool http_basic = cfg.get_string("http.auth") == "basic";
  for (const char* key : {"kafka_listen", "http_listen"}) {
    if (!net::listen_address::parse(cfg.get_string(key))) {
      std::fprintf(stderr,
                   "riptide: invalid configuration:\ninvalid value \"%s\" for %s: expected "
                   "HOST:PORT with an IP address or localhost, such as 127.0.0.1:9092\n",
                   cfg.get_string(key).c_str(), key);
      return 2;
    }
  }
  // Listeners the network can reach that authenticate no one: refused unless the operator
  // opts in.
  std::vector<std::string> unauthenticated_network;
  if (!is_loopback_host(listen->host) && sasl_mechanisms.empty()) {
    unauthenticated_network.push_back("Kafka (kafka_listen " + listen->to_string() + ")");
  }
  if (!is_loopback_host(http_listen->host) && !http_basic) {
    unauthenticated_network.push_back("HTTP (http_listen " + http_listen->to_string() + ")");
  }
  if (!unauthenticated_network.empty() && !cfg.get_bool("security.allow_unauthenticated_network")) {
    std::string which;
    for (const auto& w : unauthenticated_network) which += (which.empty() ? "" : " and ") + w;
    which += unauthenticated_network.size() == 1
                 ? " listener is reachable from the network and authenticates no one"
                 : " listeners are reachable from the network and authenticate no one";
    std::fprintf(
        stderr,
        "riptide: refusing to start: the %s. Require authentication (kafka.sasl_mechanisms, "
        "http.auth = basic; see docs/security.md), bind 127.0.0.1, or accept the risk "
        "with security.allow_unauthenticated_network = true\n",
        which.c_str());
    return 2;
  }

  base::init_logging(*base::parse_log_format(cfg.get_string("log.format")),
                     *base::parse_log_level(cfg.get_string("log.level")));
  auto log = base::logger("app");
  const sigset_t signals = block_shutdown_signals();
  // A client that disconnects while a response is being sent must cost only its own
  // connection: sendfile has no MSG_NOSIGNAL, so without this SIGPIPE ends the process.
  ::signal(SIGPIPE, SIG_IGN);

  broker::broker_options bopts;
  bopts.data_dir = cfg.get_string("data_dir");
  bopts.defaults = log_config_from(cfg);
  bopts.auto_create_topics = cfg.get_bool("topics.auto_create");
  bopts.default_partitions = static_cast<int32_t>(cfg.get_int("topics.default_partitions"));
  bopts.flush_threads = static_cast<size_t>(cfg.get_int("storage.flush_threads"));
  bopts.min_free_bytes = static_cast<uint64_t>(cfg.get_int("storage.min_free_bytes"));
  bopts.max_open_segment_files = static_cast<size_t>(cfg.get_int("storage.max_open_segment_files"));
  bopts.journal = cfg.get_bool("storage.journal");
  bopts.journal_file_bytes = static_cast<uint64_t>(cfg.get_int("storage.journal_file_bytes"));
  bopts.log_level = cfg.get_string("log.level");
  bopts.cleaner = cleaner_options_from(cfg);
  bopts.groups.offsets_partitions = static_cast<int32_t>(cfg.get_int("groups.offsets_partitions"));
  bopts.groups.offsets_retention_ms = cfg.get_int("groups.offsets_retention");
  bopts.groups.limits.min_session_timeout_ms =
      static_cast<int32_t>(cfg.get_int("groups.min_session_timeout"));
  bopts.groups.limits.max_session_timeout_ms =
      static_cast<int32_t>(cfg.get_int("groups.max_session_timeout"));
  bopts.groups.limits.max_rebalance_timeout_ms =
      static_cast<int32_t>(cfg.get_int("groups.max_rebalance_timeout"));
  bopts.groups.limits.initial_rebalance_delay_ms = cfg.get_int("groups.initial_rebalance_delay");
  bopts.groups.limits.max_members = static_cast<size_t>(cfg.get_int("groups.max_members"));
  bopts.groups.max_groups = static_cast<size_t>(cfg.get_int("groups.max_groups"));
  bopts.queues.max_queues = static_cast<size_t>(cfg.get_int("queues.max_queues"));
  bopts.limits.max_topics = static_cast<int32_t>(cfg.get_int("limits.max_topics"));
  bopts.limits.max_partitions = static_cast<int32_t>(cfg.get_int("limits.max_partitions"));
  bopts.limits.max_topics_per_request =
      static_cast<int32_t>(cfg.get_int("limits.max_topics_per_request"));
  bopts.fault_injection = cfg.get_bool("testing.fault_injection");
  unsigned shard_count = static_cast<unsigned>(cfg.get_int("shards"));
  if (shard_count == 0) shard_count = std::max(1u, std::thread::hardware_concurrency());
  log->info("riptide {} starting: data directory {}, durability {}, {} shard(s)", opts.version,
            std::filesystem::absolute(bopts.data_dir).string(),
            storage::to_string(bopts.defaults.policy), shard_count);

  const uint64_t fd_limit = raise_descriptor_limit();

  net::shard_set shards(shard_count);
  shards.start();
  int exit_code = 0;
  {
    broker::broker b(shards, bopts);
    auto reports = b.start();
    if (!reports) {
      if (reports.error() == broker::errc::damaged_metadata) {
        // The broker has logged which file, what is wrong with it and how to repair it.
        log->error("cannot open data directory {}: {} (see above).", bopts.data_dir.string(),
                   reports.error().message());
      } else {
        log->error(
            "cannot open data directory {}: {}. Check that it exists and is writable, and "
            "that no other riptide process uses it.",
            bopts.data_dir.string(), reports.error().message());
      }
      shards.stop();
      return 1;
    }
    size_t truncated = 0;
    for (const auto& r : *reports) {
      if (r.clean()) {
        log->info("recovered {}", r.summary());
      } else {
        ++truncated;
        log->warn("recovered {}", r.summary());
      }
    }
    log->info("opened {} partition(s){}", reports->size(),
              truncated ? fmt::format(", {} with a truncated unacknowledged tail", truncated) : "");
    {
      // Each partition holds one descriptor (its active segment); sealed segments share
      // the cache; listeners, the journal and the rest need a few more, and each client
      // connection one.
      constexpr uint64_t kReserve = 128;
      const uint64_t need = reports->size() + bopts.max_open_segment_files + kReserve;
      if (fd_limit < need) {
        log->warn(
            "the descriptor limit ({}) is low for {} partition(s) and "
            "storage.max_open_segment_files = {}: new segments, reads of old ones and new "
            "connections may be refused. Raise it to at least {} plus one per client "
            "connection (ulimit -n, LimitNOFILE= under systemd)",
            fd_limit, reports->size(), bopts.max_open_segment_files, need);
      } else {
        log->info("descriptor limit {}: {} for active segments, up to {} for sealed ones",
                  fd_limit == UINT64_MAX ? std::string("unlimited") : std::to_string(fd_limit),
                  reports->size(), bopts.max_open_segment_files);
      }
    }

    kafka::kafka_server_options kopts;
    kopts.listen = *listen;
    kopts.max_request_bytes = static_cast<uint32_t>(cfg.get_int("kafka.max_request_bytes"));
    kopts.request_timeout = cfg.get_duration("kafka.request_timeout");
    kopts.write_timeout = cfg.get_duration("kafka.write_timeout");
    kopts.shard_memory_budget = static_cast<uint64_t>(cfg.get_int("kafka.memory_budget"));
    kopts.max_connections = static_cast<uint32_t>(cfg.get_int("kafka.max_connections"));
    kopts.max_connections_per_ip =
        static_cast<uint32_t>(cfg.get_int("kafka.max_connections_per_ip"));
    kopts.info.fetch_max_bytes = static_cast<int32_t>(cfg.get_int("kafka.fetch_max_bytes"));
    kopts.info.fetch_max_wait_ms =
        static_cast<int32_t>(cfg.get_duration("kafka.fetch_max_wait").count());
    kopts.info.node_id = b.node_id();
    auto users = std::make_shared<auth::user_store>(bopts.data_dir / "users.json");
    const bool users_read = static_cast<bool>(users->load());
    kopts.info.users = users;
    kopts.info.super_users = super_users;
    if (!users_read && (!sasl_mechanisms.empty() || http_basic)) {
      log->error(
          "cannot read the users file: {}. Repair or remove it (riptide user create "
          "writes a new one).",
          users->error());
      b.stop();
      shards.stop();
      return 1;
    }
    if (!users_read) {
      log->warn("cannot read the users file: {}; no listener uses it", users->error());
    }
    if (!sasl_mechanisms.empty()) {
      kopts.sasl.mechanisms = sasl_mechanisms;
      kopts.sasl.users = users;
      log->info("Kafka clients authenticate with SASL ({}); {} user(s) in {}",
                fmt::join(sasl_mechanisms, ", "), users->snapshot()->size(),
                users->path().string());
    }
    kopts.info.cluster_id = b.identity().cluster_id;
    kopts.info.advertised_host = cfg.get_string("kafka_advertised_host");
    if (kopts.info.advertised_host.empty()) {
      kopts.info.advertised_host = listen->host == "0.0.0.0" || listen->host == "::"
                                       ? std::string("127.0.0.1")
                                       : listen->host;
    }
    http::server_options hopts;
    hopts.max_body_bytes = static_cast<size_t>(cfg.get_int("http.max_body_bytes"));
    hopts.max_header_bytes = static_cast<size_t>(cfg.get_int("http.max_header_bytes"));
    hopts.request_timeout = cfg.get_duration("http.request_timeout");
    hopts.idle_timeout = cfg.get_duration("http.idle_timeout");
    hopts.write_timeout = cfg.get_duration("http.write_timeout");
    hopts.shard_memory_budget = static_cast<uint64_t>(cfg.get_int("http.memory_budget"));
    hopts.max_connections = static_cast<uint32_t>(cfg.get_int("http.max_connections"));
    hopts.cors_origins = cfg.get_string("http.cors_origins");
    hopts.access_log = cfg.get_bool("http.access_log");
    hopts.max_wait = cfg.get_duration("http.max_wait");
    hopts.max_consumers = static_cast<size_t>(cfg.get_int("http.max_consumers"));
    hopts.consumer_timeout = cfg.get_duration("http.consumer_timeout");
    hopts.stream_send_buffer = static_cast<size_t>(cfg.get_int("http.stream_send_buffer"));
    hopts.basic_auth = http_basic;
    hopts.users = users;
    if (http_basic) {
      log->info("HTTP clients authenticate with basic auth; {} user(s) in {}",
                users->snapshot()->size(), users->path().string());
    }
    http::server admin(b, *http_listen, hopts);
    auto admin_port = admin.start();
    if (!admin_port) {
      log->error(
          "cannot listen for HTTP on {}: {}. Pick a free port with --http-listen "
          "HOST:PORT.",
          http_listen->to_string(), admin_port.error().message());
      b.stop();
      shards.stop();
      return 1;
    }
    log->info("HTTP listener on {}:{} (the API under /v1, /metrics, /healthz, /readyz)",
              http_listen->host, *admin_port);
    kafka::kafka_server kafka(b, kopts);
    auto port = kafka.start();
    if (!port) {
      log->error(
          "cannot listen for Kafka clients on {}: {}. Pick a free port with "
          "--kafka-listen HOST:PORT.",
          listen->to_string(), port.error().message());
      exit_code = 1;
    } else {
      log->info("Kafka listener on {}:{} (advertised as {}:{})", listen->host, *port,
                kopts.info.advertised_host, *port);
      for (const auto& what : unauthenticated_network) {
        log->warn(
            "the {} listener is reachable from the network and authenticates no one "
            "(security.allow_unauthenticated_network is on): anyone who can connect may "
            "produce, consume and create or delete topics",
            what);
      }
      admin.set_ready(true);
      log->info("ready. Stop with SIGINT or SIGTERM.");
      const auto tick = cfg.get_duration("storage.housekeeping_interval");
      timespec timeout{static_cast<time_t>(tick.count() / 1000),
                       static_cast<long>(tick.count() % 1000) * 1'000'000};
      for (;;) {
        int sig = sigtimedwait(&signals, nullptr, &timeout);
        if (sig == SIGINT || sig == SIGTERM) {
          log->info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
          break;
        }
        b.housekeeping();
      }
      admin.set_ready(false);
      kafka.stop();
    }
    admin.stop();
    if (auto ec = b.stop()) {
      log->error("shutdown: some partitions could not be made durable: {}", ec.message());
      exit_code = 1;
    }
  }
  shards.stop();
  if (exit_code == 0) log->info("stopped; everything acknowledged is durable");
  return exit_code;
}

}  // namespace app
