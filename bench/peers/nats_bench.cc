// The `riptide bench` workloads against NATS JetStream: one file-backed stream, records
// published asynchronously with their acknowledgements counted as they return, and (mode
// both) one push consumer that measures end-to-end latency. Prints the same JSON.

#include <nats/nats.h>

#include "peer_common.h"

namespace {

constexpr const char* kUsage =
    "usage: nats_bench --url nats://127.0.0.1:4222 [--mode produce|both] [--record-size N]\n"
    "                  [--rate N] [--pace-step-us N] [--duration S | --count N]\n"
    "                  [--warmup S] [--window N] [--json]";
constexpr const char* kSubject = "bench.data";

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) peers::die(std::string("nats_bench: ") + what + ": " + natsStatus_GetText(s));
}

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* st = static_cast<peers::run_state*>(closure);
  if (pa != nullptr && pae == nullptr) {
    st->acked(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  } else {
    st->produced.errors.fetch_add(1);
  }
  natsMsg_Destroy(msg);
}

void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* st = static_cast<peers::run_state*>(closure);
  st->received(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)),
               peers::now_ns());
  natsMsg_Destroy(msg);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = peers::parse(argc, argv, kUsage);
  if (opts.url.empty()) opts.url = "nats://127.0.0.1:4222";
  if (opts.durability.empty()) opts.durability = "file store, default sync";
  peers::run_state st(opts);

  natsOptions* no = nullptr;
  check(natsOptions_Create(&no), "options");
  check(natsOptions_SetURL(no, opts.url.c_str()), "url");
  check(natsOptions_SetMaxPendingMsgs(no, 1 << 20), "max pending");
  natsConnection* pub_nc = nullptr;
  natsConnection* sub_nc = nullptr;
  check(natsConnection_Connect(&pub_nc, no), "connect");
  check(natsConnection_Connect(&sub_nc, no), "connect");

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = opts.window;
  jo.PublishAsync.AckHandler = on_ack;
  jo.PublishAsync.AckHandlerClosure = &st;
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, pub_nc, &jo), "jetstream");

  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = "BENCH";
  const char* subjects[] = {kSubject};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  check(js_AddStream(&si, js, &sc, nullptr, &jerr), "add stream");
  jsStreamInfo_Destroy(si);

  natsSubscription* sub = nullptr;
  jsCtx* sub_js = nullptr;
  if (opts.mode == "both") {
    jsOptions so;
    jsOptions_Init(&so);
    check(natsConnection_JetStream(&sub_js, sub_nc, &so), "jetstream");
    jsSubOptions sub_opts;
    jsSubOptions_Init(&sub_opts);
    sub_opts.Config.AckPolicy = js_AckNone;  // like a Kafka consumer: position, not per-record acks
    sub_opts.Config.DeliverPolicy = js_DeliverNew;
    sub_opts.Config.MaxAckPending = -1;
    check(js_Subscribe(&sub, sub_js, kSubject, on_msg, &st, nullptr, &sub_opts, &jerr),
          "subscribe");
    check(natsSubscription_SetPendingLimits(sub, -1, -1), "pending limits");
  }

  std::thread producer([&st, js] {
    auto value = peers::make_value(st.opts.record_size);
    cli::bench::pacer pace(st.opts.rate, static_cast<int64_t>(st.opts.pace_step_us * 1e3));
    uint64_t i = 0;
    for (; !st.done_sending(i); ++i) {
      pace.wait(st.start_ns, i);
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
    st.producing_done = true;
  });
  // The consumer runs on the library's delivery thread.
  int rc = peers::finish(st, "nats-jetstream", producer, nullptr, sub != nullptr);
  if (sub) natsSubscription_Destroy(sub);
  if (sub_js) jsCtx_Destroy(sub_js);
  jsCtx_Destroy(js);
  natsConnection_Destroy(pub_nc);
  natsConnection_Destroy(sub_nc);
  natsOptions_Destroy(no);
  return rc;
}
