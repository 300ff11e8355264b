#pragma once
// What the modes of http_bench (the HTTP and WebSocket load generator) share: addresses,
// one io_context per thread, WebSocket connects at a bounded rate, the value stamp that
// carries a send time, and the JSON / text output. Latency histograms come from
// cli/bench_stats.h, as in `riptide bench` and the peer drivers.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"

namespace http_bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

// host:port out of "http://host:port", "ws://host:port" or "nats://host:port" (any path
// after the port is ignored).
struct address {
  std::string host;
  uint16_t port = 0;
  tcp::endpoint endpoint() const;
  std::string host_port() const { return host + ":" + std::to_string(port); }
};
std::optional<address> parse_url(std::string_view url);

// Monotonic nanoseconds: the producer and the subscribers are threads of one process.
int64_t steady_ns();

// Raises the soft descriptor limit towards the hard one so that `want` descriptors fit;
// returns the soft limit in force.
uint64_t raise_descriptor_limit(uint64_t want);

// Values carry their send time: "HBT:" then 20 decimal digits of steady_ns(), padded with
// 'x' to the record size (at least kStampSize). Text, so it travels unchanged inside the
// JSON of Riptide's WebSocket messages.
inline constexpr std::string_view kStampMarker = "HBT:";
inline constexpr size_t kStampSize = 24;
std::string stamped_value(size_t size, int64_t ns);
void restamp(char* value, int64_t ns);  // overwrites the stamp of a stamped_value in place

// N threads, each running an io_context of its own until stop().
class io_threads {
 public:
  explicit io_threads(int n);
  ~io_threads();
  asio::io_context& at(size_t i) { return *contexts_[i % contexts_.size()]; }
  size_t size() const { return contexts_.size(); }
  void stop();

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

// Counts of a set of connections, updated from any thread.
struct connection_counts {
  std::atomic<uint64_t> attempted{0};
  std::atomic<uint64_t> open{0};     // handshake done and not closed yet
  std::atomic<uint64_t> opened{0};   // handshakes done
  std::atomic<uint64_t> failed{0};   // connect or handshake failed
  std::atomic<uint64_t> dropped{0};  // closed by the server (or its socket failed) while held
  std::mutex mu;
  std::string first_error;
  void fail(const std::string& why);
  std::string error() {
    std::lock_guard lock(mu);
    return first_error;
  }
};

using ws_stream = websocket::stream<beast::tcp_stream>;

// Why a WebSocket session ended: the error, or the close code and reason the server sent.
std::string why_closed(const ws_stream& ws, const boost::system::error_code& ec);

// Connects and completes a WebSocket handshake for `target`; null with the reason in
// `counts` when it fails.
asio::awaitable<std::shared_ptr<ws_stream>> connect_ws(address addr, std::string target,
                                                       connection_counts* counts);

// Paces connects: the i-th may start at start + i / rate, and at most `in_flight`
// handshakes run at once on each thread.
struct connect_plan {
  uint64_t total = 0;
  double rate = 1000;  // connects per second
  int in_flight = 64;  // per thread
  int64_t start_ns = 0;
  std::atomic<uint64_t> next{0};
  // The next index to connect, after waiting for its turn; nullopt when all are taken.
  asio::awaitable<std::optional<uint64_t>> take();
};

// Latency figures in microseconds as JSON: {"count":..,"p50_us":..,...}.
std::string latency_json(const cli::bench::histogram& h);
std::string json_escape(std::string_view s);

// One HTTP request on a connection of its own: (status, body); status 0 when the
// connection failed (the body says why).
std::pair<unsigned, std::string> http_call(const address& addr, std::string_view verb,
                                           const std::string& target, const std::string& body);

// POST /v1/topics unless the topic exists; empty on success, else why it failed.
std::string create_topic(const address& addr, const std::string& topic, int partitions);
// The listener at `url`, with `topic` made of `partitions` first when that is positive;
// nullopt after printing why, with the exit code in `rc`.
std::optional<address> open_target(const std::string& url, const std::string& topic, int partitions,
                                   int& rc);

}  // namespace http_bench

namespace http_bench {

struct produce_options {
  std::string url;
  std::string topic;
  int partitions = 0;  // create the topic with this many partitions (0: it must exist)
  int connections = 4;
  int records_per_request = 100;
  size_t record_bytes = 1024;
  double seconds = 10;
  int threads = 0;  // 0: min(connections, cores)
  bool json = false;
};

struct ws_idle_options {
  std::string url;
  std::string topic;
  int partitions = 0;
  uint64_t subscribers = 1000;
  uint64_t credit = 0;
  double hold_seconds = 10;
  double connect_rate = 2000;  // connects per second
  int in_flight = 64;          // handshakes at once per thread
  int threads = 0;             // 0: cores
  bool json = false;
};

struct fanout_options {
  std::string url;               // Riptide's HTTP listener
  std::string nats;              // nats://host:port: publish here over TCP instead of Riptide
  std::string nats_ws;           // ws://host:port: NATS's WebSocket listener, for the subscribers
  std::string topic = "fanout";  // Riptide topic, or NATS subject
  int partitions = 0;
  uint64_t subscribers = 100;
  std::vector<double> rates{1000};  // records per second, one step each
  double seconds = 10;              // per step
  size_t record_bytes = 100;
  uint64_t credit = 10000;  // Riptide: records granted at once, re-granted as they arrive
  int producer_connections = 4;
  double drain_seconds = 10;  // how long a step waits for the last records to arrive
  double connect_rate = 2000;
  int in_flight = 64;
  int threads = 0;
  bool json = false;
};

struct queue_options {
  std::string url;  // Riptide's HTTP listener
  std::string topic = "queue-bench";
  int partitions = 1;
  int max_in_flight = 2000;  // the queue's window per partition
  int producers = 2;         // keep-alive producer connections
  int records_per_request = 100;
  size_t record_bytes = 1024;
  double rate = 0;               // records per second, all producers together; 0: flat out
  uint64_t max_backlog = 20000;  // records produced and not yet acked by a worker
  int workers = 8;
  uint64_t prefetch = 100;  // credit of each worker
  double seconds = 10;      // producers stop then; workers finish what was produced
  int threads = 0;          // 0: one per core
  std::string durability = "fsync before ack";
  bool json = false;
};

int run_produce(const produce_options& o);
int run_queue(const queue_options& o);
int run_ws_idle(const ws_idle_options& o);
int run_fanout(const fanout_options& o);

}  // namespace http_bench
