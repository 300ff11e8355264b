// The `riptide bench` workloads against NATS JetStream: one file-backed stream, records
// published asynchronously by one or more publishers (--publishers, each on its own
// connection with up to --window publishes awaiting their acknowledgement, counted as they
// return) and (mode both) one push consumer that measures end-to-end latency. Mode queue:
// a work-queue stream and one durable pull consumer with explicit acks shared by --workers
// workers (each on its own connection, fetching --prefetch at a time and acking each
// message on its own); a record counts when its ack is sent. Prints the same JSON.

#include <nats/nats.h>

#include "peer_common.h"

namespace {

constexpr const char* kUsage =
    "usage: nats_bench --url nats://127.0.0.1:4222 [--mode produce|both] [--record-size N]\n"
    "                  [--rate N] [--pace-step-us N] [--duration S | --count N]\n"
    "                  [--warmup S] [--publishers N] [--window N] [--json]\n"
    "                  [--mode queue --workers N --prefetch N --max-backlog N]\n"
    "  --publishers N  publishers, each on its own connection (default 1)\n"
    "  --window N      publishes awaiting their ack, per publisher (default 1024)";
constexpr const char* kSubject = "bench.data";
constexpr const char* kStreamName = "BENCH";
constexpr const char* kWorkers = "WORKERS";

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) peers::die(std::string("nats_bench: ") + what + ": " + natsStatus_GetText(s));
}

// What a publisher's acknowledgement handler needs: the run and which publisher it is.
struct publisher_ctx {
  peers::run_state* st;
  int index;
};

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* p = static_cast<publisher_ctx*>(closure);
  if (pa != nullptr && pae == nullptr) {
    p->st->acked(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)), p->index);
  } else {
    p->st->produced.errors.fetch_add(1);
  }
  natsMsg_Destroy(msg);
}

void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* st = static_cast<peers::run_state*>(closure);
  st->received(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)),
               peers::now_ns());
  natsMsg_Destroy(msg);
}

// Publishes publisher `index`'s share of the records at its share of the rate; returns once
// every publish has its acknowledgement (or a minute passed).
void publish(peers::run_state& st, jsCtx* js, int index) {
  auto value = peers::make_value(st.opts.record_size);
  cli::bench::pacer pace(st.producer_rate(), static_cast<int64_t>(st.opts.pace_step_us * 1e3));
  const uint64_t quota = st.quota(index);
  for (uint64_t i = 0; !st.done_sending(i, quota); ++i) {
    pace.wait(st.start_ns, i);
    bool stopped = false;
    while (!st.room()) {  // queue: at most --max-backlog records not yet acked by a worker
      if ((stopped = st.done_sending(i, quota))) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (stopped) break;
    cli::bench::stamp(value.data(), value.size(), peers::now_ns());
    // Blocks (StallWait) while `window` publishes await their acknowledgement.
    natsStatus s;
    while ((s = js_PublishAsync(js, kSubject, value.data(), static_cast<int>(value.size()),
                                nullptr)) == NATS_TIMEOUT) {
    }
    if (s != NATS_OK) {
      st.produced.errors.fetch_add(1);
      break;
    }
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  js_PublishAsyncComplete(js, &po);
  st.producer_finished();
}

// A queue worker: fetches up to --prefetch messages at a time from the shared durable
// consumer and acks each one on its own.
void work(peers::run_state& st, natsOptions* no) {
  natsConnection* nc = nullptr;
  check(natsConnection_Connect(&nc, no), "connect");
  jsCtx* js = nullptr;
  jsOptions jo;
  jsOptions_Init(&jo);
  check(natsConnection_JetStream(&js, nc, &jo), "jetstream");
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = kStreamName;
  so.Consumer = kWorkers;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  check(js_PullSubscribe(&sub, js, kSubject, kWorkers, &jo, &so, &jerr), "pull subscribe");
  while (!st.consumer_should_stop()) {
    natsMsgList list{nullptr, 0};
    const natsStatus s = natsSubscription_Fetch(&list, sub, st.opts.prefetch, 100, &jerr);
    if (s != NATS_OK && s != NATS_TIMEOUT) check(s, "fetch");
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* m = list.Msgs[i];
      check(natsMsg_Ack(m, nullptr), "ack");
      st.received(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)),
                  peers::now_ns());
    }
    natsMsgList_Destroy(&list);
  }
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = peers::parse(argc, argv, kUsage, {"--publishers"});
  if (opts.url.empty()) opts.url = "nats://127.0.0.1:4222";
  if (opts.durability.empty()) opts.durability = "file store, default sync";
  const int publishers = opts.publishers;
  peers::run_state st(opts, publishers);

  natsOptions* no = nullptr;
  check(natsOptions_Create(&no), "options");
  check(natsOptions_SetURL(no, opts.url.c_str()), "url");
  check(natsOptions_SetMaxPendingMsgs(no, 1 << 20), "max pending");
  std::vector<natsConnection*> pub_nc(static_cast<size_t>(publishers), nullptr);
  std::vector<jsCtx*> pub_js(static_cast<size_t>(publishers), nullptr);
  std::vector<publisher_ctx> pub_ctx(static_cast<size_t>(publishers));
  for (int p = 0; p < publishers; ++p) {
    const auto k = static_cast<size_t>(p);
    check(natsConnection_Connect(&pub_nc[k], no), "connect");
    pub_ctx[k] = {&st, p};
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = opts.window;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &pub_ctx[k];
    check(natsConnection_JetStream(&pub_js[k], pub_nc[k], &jo), "jetstream");
  }
  natsConnection* sub_nc = nullptr;
  check(natsConnection_Connect(&sub_nc, no), "connect");
  jsCtx* sub_js = nullptr;
  jsOptions so;
  jsOptions_Init(&so);
  check(natsConnection_JetStream(&sub_js, sub_nc, &so), "jetstream");

  // A fresh stream for every run, so one run's records do not weigh on the next.
  jsErrCode jerr = static_cast<jsErrCode>(0);
  js_DeleteStream(sub_js, kStreamName, nullptr, &jerr);  // absent on the first run
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = kStreamName;
  const char* subjects[] = {kSubject};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  if (opts.mode == "queue") sc.Retention = js_WorkQueuePolicy;  // acked messages go
  jsStreamInfo* si = nullptr;
  check(js_AddStream(&si, sub_js, &sc, nullptr, &jerr), "add stream");
  jsStreamInfo_Destroy(si);

  if (opts.mode == "queue") {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = kWorkers;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = 60'000'000'000;  // ns: no redelivery while a run lasts
    cc.MaxAckPending = static_cast<int64_t>(opts.workers) * opts.prefetch * 2;
    cc.MaxRequestBatch = opts.prefetch;
    jsConsumerInfo* ci = nullptr;
    check(js_AddConsumer(&ci, sub_js, kStreamName, &cc, nullptr, &jerr), "add consumer");
    jsConsumerInfo_Destroy(ci);
  }
  natsSubscription* sub = nullptr;
  if (opts.mode == "both") {
    jsSubOptions sub_opts;
    jsSubOptions_Init(&sub_opts);
    sub_opts.Config.AckPolicy = js_AckNone;  // like a Kafka consumer: position, not per-record acks
    sub_opts.Config.DeliverPolicy = js_DeliverNew;
    sub_opts.Config.MaxAckPending = -1;
    check(js_Subscribe(&sub, sub_js, kSubject, on_msg, &st, nullptr, &sub_opts, &jerr),
          "subscribe");
    check(natsSubscription_SetPendingLimits(sub, -1, -1), "pending limits");
  }

  st.begin();
  std::vector<std::thread> producers;
  for (int p = 0; p < publishers; ++p) {
    producers.emplace_back(publish, std::ref(st), pub_js[static_cast<size_t>(p)], p);
  }
  std::vector<std::thread> workers;
  if (opts.mode == "queue") {
    for (int w = 0; w < opts.workers; ++w) workers.emplace_back(work, std::ref(st), no);
  }
  // The consumer runs on the library's delivery thread.
  int rc =
      peers::finish(st, "nats-jetstream", producers, nullptr, sub != nullptr || !workers.empty());
  for (auto& w : workers) w.join();
  if (sub) natsSubscription_Destroy(sub);
  jsCtx_Destroy(sub_js);
  for (auto* js : pub_js) jsCtx_Destroy(js);
  for (auto* nc : pub_nc) natsConnection_Destroy(nc);
  natsConnection_Destroy(sub_nc);
  natsOptions_Destroy(no);
  return rc;
}
