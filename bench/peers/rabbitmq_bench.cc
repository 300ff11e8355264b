// The `riptide bench` workloads against RabbitMQ: a quorum queue (replicated Raft log,
// fsynced before a publisher confirm), persistent messages published with publisher
// confirms over one or more connections (--connections, one thread each) and channels
// (--channels per connection, each with up to --window unconfirmed) and (mode both) one
// consumer on its own connection. Mode queue: --workers consumers, each on its own
// connection with a prefetch of --prefetch (basic.qos), acking each message on its own
// (basic.ack, not multiple); a record counts when its ack is sent. Prints the same JSON.

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <deque>

#include "peer_common.h"

namespace {

constexpr const char* kUsage =
    "usage: rabbitmq_bench --url 127.0.0.1:5672 [--mode produce|both] [--record-size N]\n"
    "                      [--rate N] [--pace-step-us N] [--duration S | --count N]\n"
    "                      [--warmup S] [--connections N] [--channels N] [--window N]\n"
    "                      [--extra quorum|classic] [--json]\n"
    "                      [--mode queue --workers N --prefetch N --max-backlog N]\n"
    "  --connections N  publishing connections, one thread each (default 1)\n"
    "  --channels N     publishing channels per connection (default 1)\n"
    "  --window N       unconfirmed publishes per channel (default 1024)";
constexpr const char* kQueue = "bench";
constexpr int64_t kSecond = 1'000'000'000;

void check_rpc(amqp_connection_state_t c, const char* what) {
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    peers::die(std::string("rabbitmq_bench: ") + what + " failed (reply type " +
               std::to_string(r.reply_type) + ")");
  }
}

// A connection with channels 1..channels open.
amqp_connection_state_t connect(const std::string& url, int channels) {
  auto colon = url.rfind(':');
  std::string host = colon == std::string::npos ? url : url.substr(0, colon);
  int port = colon == std::string::npos ? 5672 : std::atoi(url.c_str() + colon + 1);
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* s = amqp_tcp_socket_new(c);
  if (s == nullptr || amqp_socket_open(s, host.c_str(), port) != AMQP_STATUS_OK) {
    peers::die("rabbitmq_bench: cannot connect to " + url);
  }
  amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
  if (r.reply_type != AMQP_RESPONSE_NORMAL) peers::die("rabbitmq_bench: login failed");
  for (int ch = 1; ch <= channels; ++ch) {
    amqp_channel_open(c, static_cast<amqp_channel_t>(ch));
    check_rpc(c, "channel.open");
  }
  return c;
}

// One publishing channel in confirm mode.
struct channel_state {
  std::deque<int64_t> in_flight;  // send times by delivery tag, oldest first
  uint64_t confirmed = 0;         // delivery tags up to this one are settled
};

// Publishes connection `index`'s share of the records over its channels, each record on
// the next channel in turn that has fewer than --window unconfirmed.
void produce(peers::run_state& st, amqp_connection_state_t c, int index) {
  const auto channels = static_cast<size_t>(st.opts.channels);
  const auto window = static_cast<size_t>(st.opts.window);
  for (size_t k = 0; k < channels; ++k) {
    amqp_confirm_select(c, static_cast<amqp_channel_t>(k + 1));
    check_rpc(c, "confirm.select");
  }
  auto value = peers::make_value(st.opts.record_size);
  cli::bench::pacer pace(st.producer_rate(), static_cast<int64_t>(st.opts.pace_step_us * 1e3));
  cli::bench::histogram& ack = st.ack(index);
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;  // persistent
  std::vector<channel_state> chan(channels);
  size_t unconfirmed = 0;
  auto settle_to = [&](channel_state& ch, uint64_t tag, bool ok) {
    const int64_t now = peers::now_ns();
    while (ch.confirmed < tag && !ch.in_flight.empty()) {
      ++ch.confirmed;
      if (ok) {
        st.produced.add(1, value.size(), now);
        if (ch.in_flight.front() >= st.warm_ns) ack.record(now - ch.in_flight.front());
      } else {
        st.produced.errors.fetch_add(1);
      }
      ch.in_flight.pop_front();
      --unconfirmed;
    }
  };
  // Takes the confirms that have arrived, waiting up to `wait_ns` for the first.
  auto read_confirms = [&](int64_t wait_ns) {
    for (;;) {
      amqp_maybe_release_buffers(c);  // no frame read so far is still referenced
      amqp_frame_t f;
      timeval wait{static_cast<time_t>(wait_ns / 1'000'000'000),
                   static_cast<suseconds_t>(wait_ns % 1'000'000'000 / 1000)};
      int rc = amqp_simple_wait_frame_noblock(c, &f, &wait);
      if (rc == AMQP_STATUS_TIMEOUT) return;
      if (rc != AMQP_STATUS_OK) peers::die("rabbitmq_bench: connection lost");
      wait_ns = 0;
      if (f.frame_type != AMQP_FRAME_METHOD) continue;
      if (f.channel < 1 || static_cast<size_t>(f.channel) > channels) continue;
      channel_state& ch = chan[f.channel - 1];
      if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        auto* a = static_cast<amqp_basic_ack_t*>(f.payload.method.decoded);
        // Confirms come in publish order, so a single one settles what precedes it too.
        settle_to(ch, a->delivery_tag, true);
      } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        auto* n = static_cast<amqp_basic_nack_t*>(f.payload.method.decoded);
        settle_to(ch, n->delivery_tag, false);
      } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        peers::die("rabbitmq_bench: the broker closed the channel");
      }
    }
  };
  const uint64_t quota = st.quota(index);
  size_t next = 0;
  for (uint64_t i = 0; !st.done_sending(i, quota); ++i) {
    // Paced: take confirms as they arrive while waiting for the next record's turn.
    pace.wait(st.start_ns, i, [&](int64_t ns) {
      if (unconfirmed == 0) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
      } else {
        read_confirms(ns);
      }
    });
    // The next channel in turn with room; when every one is full, wait for confirms.
    size_t k = channels;
    for (;;) {
      for (size_t j = 0; j < channels && k == channels; ++j) {
        if (chan[(next + j) % channels].in_flight.size() < window) k = (next + j) % channels;
      }
      if (k < channels) break;
      read_confirms(kSecond);
    }
    next = (k + 1) % channels;
    bool stopped = false;
    while (!st.room()) {  // queue: at most --max-backlog records not yet acked by a worker
      if ((stopped = st.done_sending(i, quota))) break;
      if (unconfirmed == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      } else {
        read_confirms(1'000'000);
      }
    }
    if (stopped) break;
    const int64_t now = peers::now_ns();
    cli::bench::stamp(value.data(), value.size(), now);
    amqp_bytes_t body{value.size(), value.data()};
    if (amqp_basic_publish(c, static_cast<amqp_channel_t>(k + 1), amqp_empty_bytes,
                           amqp_cstring_bytes(kQueue), 0, 0, &props, body) != AMQP_STATUS_OK) {
      peers::die("rabbitmq_bench: publish failed");
    }
    chan[k].in_flight.push_back(now);
    ++unconfirmed;
    read_confirms(0);
  }
  while (unconfirmed > 0) read_confirms(kSecond);
  st.producer_finished();
}

void consume(peers::run_state& st, amqp_connection_state_t c) {
  amqp_basic_qos(c, 1, 0, 2000, 0);
  check_rpc(c, "basic.qos");
  amqp_basic_consume(c, 1, amqp_cstring_bytes(kQueue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_rpc(c, "basic.consume");
  uint64_t unacked = 0, last_tag = 0;
  while (!st.consumer_should_stop()) {
    amqp_envelope_t env;
    amqp_maybe_release_buffers(c);
    timeval tv{0, 100000};
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      continue;
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) peers::die("rabbitmq_bench: consume failed");
    st.received(env.message.body.bytes, env.message.body.len, peers::now_ns());
    last_tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    if (++unacked >= 500) {
      amqp_basic_ack(c, 1, last_tag, 1);
      unacked = 0;
    }
  }
  if (unacked) amqp_basic_ack(c, 1, last_tag, 1);
}

// A queue worker on connection `c`: up to --prefetch messages unacked, each acked on its
// own as it arrives.
void work(peers::run_state& st, amqp_connection_state_t c) {
  amqp_basic_qos(c, 1, 0, static_cast<uint16_t>(std::min(st.opts.prefetch, 65535)), 0);
  check_rpc(c, "basic.qos");
  amqp_basic_consume(c, 1, amqp_cstring_bytes(kQueue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_rpc(c, "basic.consume");
  while (!st.consumer_should_stop()) {
    amqp_envelope_t env;
    amqp_maybe_release_buffers(c);
    timeval tv{0, 100000};
    amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      continue;
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) peers::die("rabbitmq_bench: consume failed");
    if (amqp_basic_ack(c, 1, env.delivery_tag, 0) != AMQP_STATUS_OK) {
      peers::die("rabbitmq_bench: ack failed");
    }
    st.received(env.message.body.bytes, env.message.body.len, peers::now_ns());
    amqp_destroy_envelope(&env);
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = peers::parse(argc, argv, kUsage, {"--connections", "--channels"});
  if (opts.url.empty()) opts.url = "127.0.0.1:5672";
  if (opts.extra.empty()) opts.extra = "quorum";
  if (opts.extra != "quorum" && opts.extra != "classic") {
    peers::die("--extra must be quorum or classic");
  }
  if (opts.durability.empty()) opts.durability = opts.extra + " queue, confirms";
  amqp_connection_state_t cc = connect(opts.url, 1);
  amqp_queue_delete(cc, 1, amqp_cstring_bytes(kQueue), 0, 0);
  check_rpc(cc, "queue.delete");
  amqp_table_entry_t arg;
  arg.key = amqp_cstring_bytes("x-queue-type");
  arg.value.kind = AMQP_FIELD_KIND_UTF8;
  arg.value.value.bytes = amqp_cstring_bytes(opts.extra.c_str());
  amqp_table_t args{1, &arg};
  amqp_queue_declare(cc, 1, amqp_cstring_bytes(kQueue), 0, 1, 0, 0, args);
  check_rpc(cc, "queue.declare");
  std::vector<amqp_connection_state_t> pcs;
  for (int k = 0; k < opts.connections; ++k) pcs.push_back(connect(opts.url, opts.channels));

  peers::run_state st(opts, opts.connections);
  std::vector<std::thread> producers;
  for (int k = 0; k < opts.connections; ++k) {
    producers.emplace_back(produce, std::ref(st), pcs[static_cast<size_t>(k)], k);
  }
  std::thread consumer;
  const bool both = opts.mode == "both";
  if (both) consumer = std::thread(consume, std::ref(st), cc);
  std::vector<amqp_connection_state_t> wcs;
  std::vector<std::thread> workers;
  if (opts.mode == "queue") {
    for (int w = 0; w < opts.workers; ++w) wcs.push_back(connect(opts.url, 1));
    for (auto* wc : wcs) workers.emplace_back(work, std::ref(st), wc);
  }
  int rc = peers::finish(st, "rabbitmq", producers, both ? &consumer : nullptr,
                         both || !workers.empty());
  for (auto& w : workers) w.join();
  for (auto* wc : wcs) {
    amqp_connection_close(wc, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(wc);
  }
  for (auto* pc : pcs) {
    amqp_connection_close(pc, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(pc);
  }
  amqp_connection_close(cc, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(cc);
  return rc;
}
