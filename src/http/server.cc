#include "http/server.h"

#include <sys/socket.h>

#include <fmt/format.h>

#include <future>
#include <set>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "base/logging.h"
#include "base/metrics.h"
#include "http/consumer.h"
#include "http/encoding.h"
#include "http/gzip.h"
#include "http/memory.h"
#include "http/transport.h"
#include "http/webhooks.h"

namespace http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using net::asio::as_tuple;
using net::asio::use_awaitable;

base::metrics::counter& refusals(std::string_view why) {
  return base::metrics::registry::global().get_counter(
      "riptide_http_refused_total",
      "HTTP requests or connections refused by a limit before they were handled",
      {{"limit", std::string(why)}});
}

struct route_metrics {
  base::metrics::counter* requests = nullptr;
  base::metrics::counter* errors = nullptr;
  base::metrics::histogram* latency = nullptr;
};

route_metrics metrics_for(std::string_view method, std::string_view pattern) {
  auto& reg = base::metrics::registry::global();
  const base::metrics::labels l = {{"method", std::string(method)},
                                   {"route", std::string(pattern)}};
  return {&reg.get_counter("riptide_http_requests_total", "HTTP requests handled, by route", l),
          &reg.get_counter("riptide_http_request_errors_total",
                           "HTTP requests answered with a 4xx or 5xx status, by route", l),
          &reg.get_histogram("riptide_http_request_seconds",
                             "Time from a request's headers to its response being ready", l)};
}

// Basic authentication: the user named by the Authorization header, or the 401 to answer.
// A failure is logged (rate-limited) with the client's address.
std::optional<response> authenticate(const server_options& opts, request& req) {
  // Open: health checks (load balancers) and CORS preflights (browsers send no credentials).
  if (!opts.basic_auth || req.path == "/healthz" || req.path == "/readyz" ||
      req.method == "OPTIONS") {
    return std::nullopt;
  }
  const auto refuse = [&](std::string why) {
    refusals("unauthenticated").add();
    static base::log_rate_limiter limiter(10, std::chrono::seconds(10));
    if (auto note = limiter.allow()) {
      base::logger("http")->warn("refused {} {} from {}: {}{}", req.method, req.path,
                                 req.who.address, why, *note);
    }
    auto r = error(401, "unauthorized", why);
    r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="riptide", charset="UTF-8")");
    return r;
  };
  const std::string* header = req.header("authorization");
  if (!header)
    return refuse(
        "credentials required: send Authorization: Basic (a user of riptide user create)");
  const std::string_view h(*header);
  if (h.size() < 6 || !beast::iequals(h.substr(0, 6), "basic ")) {
    return refuse("only Basic authorization is accepted here");
  }
  auto pair = base64_decode(h.substr(6));
  const size_t colon = pair ? pair->find(':') : std::string::npos;
  if (!pair || colon == 0 || colon == std::string::npos) {
    return refuse("malformed Basic credentials: expected base64 of user:password");
  }
  const std::string user = pair->substr(0, colon);
  if (!opts.users || !auth::check_user_password(*opts.users, user, pair->substr(colon + 1))) {
    return refuse("authentication failed: unknown user or wrong password");
  }
  req.who.principal = "User:" + user;
  return std::nullopt;
}

// X-Request-Id values accepted from clients: short, printable, no quotes.
bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

bool origin_allowed(const std::string& allowed, std::string_view origin) {
  if (allowed.empty() || origin.empty()) return false;
  if (allowed == "*") return true;
  size_t i = 0;
  while (i <= allowed.size()) {
    size_t end = std::min(allowed.find(',', i), allowed.size());
    std::string_view one(allowed.data() + i, end - i);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one == origin) return true;
    i = end + 1;
  }
  return false;
}

// The deadline of a request's body. Not the stream's own expiry, which closes the
// socket: a client too slow to send its body is owed a 408.
struct body_deadline {
  explicit body_deadline(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;
  bool reading = true;
  bool expired = false;
};

std::string render_error(const response& r, const std::string& request_id) {
  boost::json::object o;
  o["error_code"] = r.error_code != 0 ? r.error_code : r.status * 100;
  o["error"] = r.error;
  o["message"] = r.body;
  o["request_id"] = request_id;
  return boost::json::serialize(o);
}

}  // namespace

std::string request::content_type() const {
  const std::string* ct = header("content-type");
  if (!ct) return {};
  std::string out = ct->substr(0, ct->find(';'));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

response error(int status, std::string_view name, std::string message, int code) {
  response r;
  r.status = status;
  r.error = std::string(name);
  r.error_code = code;
  r.body = std::move(message);
  return r;
}

response json(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

struct server::shard_state {
  uint64_t next_request = 0;
  std::set<int> sockets;  // of the shard's open connections, shut down when stopping
};

server::server(broker::broker& b, net::listen_address addr, server_options opts)
    : opts_(std::move(opts)),
      router_(make_router()),
      ctx_(b, opts_, router_),
      addr_(std::move(addr)) {}

server::~server() {
  // stop() drains through the shards; here they may be gone already.
  if (tcp_) tcp_->stop();
}

base::result<uint16_t> server::start() {
  shards_.clear();
  for (unsigned i = 0; i < ctx_.broker.shards().size(); ++i) {
    shards_.push_back(std::make_unique<shard_state>());
  }
  tcp_ = std::make_unique<net::tcp_server>(
      ctx_.broker.shards(), addr_,
      [this](net::tcp::socket s, unsigned shard) { return serve(std::move(s), shard); });
  auto port = tcp_->start();
  if (!port) return port;
  // Webhook queues are pushed by the shard that owns each (once the server runs, so that
  // stop() ends them).
  webhooks_.clear();
  for (unsigned i = 0; i < ctx_.broker.shards().size(); ++i) {
    webhooks_.push_back(std::make_unique<webhook_dispatcher>(ctx_.broker));
    net::asio::co_spawn(ctx_.broker.shards()[i].io(), webhooks_[i]->run(), net::asio::detached);
  }
  return port;
}

void server::stop() {
  if (!tcp_) return;
  tcp_->stop();
  // On every shard: end the waits (long polls, streams, consumers) and shut the
  // connections' sockets down, so each connection finishes what it is doing and goes.
  auto& shards = ctx_.broker.shards();
  for (unsigned i = 0; i < shards.size() && i < shards_.size(); ++i) {
    std::promise<void> done;
    shards[i].post([this, i, &done] {
      if (i < webhooks_.size()) webhooks_[i]->stop();
      stop_waits();
      consumer_registry::local().shutdown();
      for (int fd : shards_[i]->sockets) ::shutdown(fd, SHUT_RDWR);
      done.set_value();
    });
    done.get_future().wait();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Webhook loops waiting on the queues (a receive's long poll) finish before the broker
  // stops; one waiting on an endpoint touches nothing but its own state when it resumes.
  auto webhooks_busy = [this] {
    for (const auto& w : webhooks_) {
      if (w->live() > 0) return true;
    }
    return false;
  };
  const auto webhook_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (webhooks_busy() && std::chrono::steady_clock::now() < webhook_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  tcp_.reset();
}

net::task<void> server::serve(net::tcp::socket socket, unsigned shard) {
  static const auto access = base::logger("http.access");
  if (connections_.fetch_add(1) >= opts_.max_connections) {
    connections_.fetch_sub(1);
    refusals("max_connections").add();
    co_return;  // the socket closes
  }
  struct release {
    std::atomic<uint32_t>& n;
    ~release() { n.fetch_sub(1); }
  } conn_guard{connections_};
  shard_state& st = *shards_[shard];
  const int fd = socket.native_handle();
  st.sockets.insert(fd);
  struct forget_socket {
    shard_state& st;
    int fd;
    ~forget_socket() { st.sockets.erase(fd); }
  } socket_guard{st, fd};
  shard_memory& memory = shard_memory::local();
  memory.set_budget(opts_.shard_memory_budget);
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::string peer;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) peer = "/" + ep.address().to_string();
  }

  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(opts_.max_header_bytes));
    parser.body_limit(opts_.max_body_bytes);
    stream.expires_after(opts_.idle_timeout);
    auto [hec, hn] =
        co_await bhttp::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
    const auto started = std::chrono::steady_clock::now();

    response res;
    bool close_after = false;
    uint64_t charged = 0;
    request req;
    const route* matched = nullptr;

    if (hec) {
      if (hec == bhttp::error::header_limit) {
        res = error(431, "headers_too_large",
                    fmt::format("the request's headers pass {} bytes (http.max_header_bytes)",
                                opts_.max_header_bytes));
        refusals("header_bytes").add();
      } else if (hec == bhttp::error::body_limit) {
        // Beast checks Content-Length against the body limit as it parses the headers.
        res = error(
            413, "body_too_large",
            fmt::format("the body passes {} bytes (http.max_body_bytes)", opts_.max_body_bytes));
        refusals("body_bytes").add();
      } else if (hec == bhttp::error::end_of_stream || hec == beast::error::timeout ||
                 hec == net::asio::error::eof || hec == net::asio::error::connection_reset ||
                 hec == net::asio::error::operation_aborted || hn == 0) {
        co_return;
      } else {
        res = error(400, "bad_request", "malformed HTTP request: " + hec.message());
      }
      close_after = true;
    } else {
      const auto& h = parser.get();
      req.method = std::string(h.method_string());
      const std::string_view target(h.target().data(), h.target().size());
      const size_t q = target.find('?');
      req.path = std::string(target.substr(0, q));
      for (const auto& f : h) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, fresh] = req.headers.try_emplace(std::move(name), std::string(f.value()));
        if (!fresh) it->second += ", " + std::string(f.value());
      }
      const std::string* rid = req.header("x-request-id");
      req.request_id = rid && acceptable_request_id(*rid)
                           ? *rid
                           : fmt::format("{:x}-{:x}", shard, ++st.next_request);
      req.who.address = peer;
      req.who.listener = "http";
      if (const std::string* ua = req.header("user-agent")) req.who.client_id = *ua;
      auto query = parse_query(q == std::string_view::npos ? "" : target.substr(q + 1));

      const auto length = parser.content_length();
      const uint64_t reserve = length ? *length : (parser.chunked() ? opts_.max_body_bytes : 0);
      // Credentials first: a client that has none gets no memory, no 100 Continue and no
      // body read, and its connection is closed (each guess costs a new connection).
      auto denied = authenticate(opts_, req);
      if (denied) {
        res = std::move(*denied);
        close_after = true;
      } else if (!query) {
        res = error(400, "bad_query", "the query string has an invalid percent-escape");
        close_after = !parser.is_done();
      } else if (length && *length > opts_.max_body_bytes) {
        res = error(413, "body_too_large",
                    fmt::format("the body is {} bytes; at most {} are accepted "
                                "(http.max_body_bytes)",
                                *length, opts_.max_body_bytes));
        refusals("body_bytes").add();
        close_after = true;
      } else if (!memory.try_take(reserve)) {
        res = error(503, "busy",
                    "the server's memory for request bodies is spent (http.memory_budget); "
                    "retry shortly");
        res.headers.emplace_back("Retry-After", "1");
        refusals("memory_budget").add();
        close_after = !parser.is_done();
      } else {
        req.query = std::move(*query);
        charged = reserve;
        if (!parser.is_done()) {
          if (const std::string* expect = req.header("expect");
              expect && beast::iequals(*expect, "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            stream.expires_after(opts_.write_timeout);
            co_await net::asio::async_write(stream, net::asio::buffer(kContinue),
                                            as_tuple(use_awaitable));
          }
          stream.expires_never();
          auto late = std::make_shared<body_deadline>(stream.get_executor());
          late->timer.expires_after(opts_.request_timeout);
          late->timer.async_wait([late, &stream](boost::system::error_code ec) {
            if (ec || !late->reading) return;
            late->expired = true;
            boost::system::error_code ignored;
            stream.socket().cancel(ignored);  // the read ends; the socket stays open
          });
          auto [bec, bn] =
              co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
          late->reading = false;
          late->timer.cancel();
          if (bec == bhttp::error::body_limit) {
            res = error(413, "body_too_large",
                        fmt::format("the body passes {} bytes (http.max_body_bytes)",
                                    opts_.max_body_bytes));
            refusals("body_bytes").add();
            close_after = true;
          } else if (bec && late->expired) {
            res = error(408, "request_timeout",
                        fmt::format("the request's body did not arrive within {} ms "
                                    "(http.request_timeout)",
                                    opts_.request_timeout.count()));
            refusals("request_timeout").add();
            close_after = true;
          } else if (bec) {
            memory.give(charged);
            co_return;
          }
        }
        if (res.error.empty()) {
          req.body = std::move(parser.get().body());
          if (const std::string* enc = req.header("content-encoding");
              enc && !enc->empty() && !beast::iequals(*enc, "identity")) {
            if (beast::iequals(*enc, "gzip") || beast::iequals(*enc, "x-gzip")) {
              const uint64_t room =
                  opts_.shard_memory_budget - std::min(opts_.shard_memory_budget, memory.used());
              auto plain = gunzip(req.body, std::min<uint64_t>(opts_.max_body_bytes, room));
              if (!plain) {
                res = error(400, "bad_gzip",
                            fmt::format("the gzip body is not valid or inflates past {} bytes "
                                        "(http.max_body_bytes)",
                                        opts_.max_body_bytes));
              } else {
                req.body = std::move(*plain);
              }
            } else {
              res = error(415, "unsupported_encoding",
                          fmt::format("Content-Encoding {} is not supported; use gzip", *enc));
            }
          }
        }
        if (res.error.empty()) {
          memory.take(req.body.size());
          charged += req.body.size();
          const bool preflight = req.method == "OPTIONS";
          auto m = router_.find(req.method, req.path);
          if (preflight) {
            // Every method of the path: asked for a method no route has, `find` lists them.
            m = router_.find("", req.path);
            const std::vector<std::string>& allowed = m.allowed;
            if (allowed.empty()) {
              res = error(404, "not_found", "no such path: " + req.path);
            } else {
              res.status = 204;
              std::string list;
              for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
              res.headers.emplace_back("Allow", list);
              res.headers.emplace_back("Access-Control-Allow-Methods", list);
              res.headers.emplace_back("Access-Control-Allow-Headers",
                                       "Content-Type, Content-Encoding, Authorization, "
                                       "X-Request-Id, Idempotency-Key, Last-Event-ID");
              res.headers.emplace_back("Access-Control-Max-Age", "600");
            }
          } else if (!m.found) {
            if (!m.allowed.empty()) {
              std::string list;
              for (const auto& a : m.allowed) list += (list.empty() ? "" : ", ") + a;
              res =
                  error(405, "method_not_allowed",
                        fmt::format("{} is not allowed on {}; use {}", req.method, req.path, list));
              res.headers.emplace_back("Allow", list);
            } else {
              res = error(404, "not_found",
                          fmt::format("no such path: {} (the API is described at "
                                      "/v1/openapi.json)",
                                      req.path));
            }
          } else {
            matched = m.found;
            req.params = std::move(m.params);
            const std::string ct = req.content_type();
            bool type_ok = matched->content_types.empty() || req.body.empty();
            for (const auto& t : matched->content_types) type_ok = type_ok || t == ct;
            if (!type_ok) {
              std::string list;
              for (const auto& t : matched->content_types) list += (list.empty() ? "" : ", ") + t;
              res = error(415, "unsupported_media_type",
                          fmt::format("Content-Type {} is not accepted here; send {}",
                                      ct.empty() ? "(none)" : ct, list));
            } else {
              try {
                res = co_await matched->fn(ctx_, req);
              } catch (const std::exception& e) {
                base::logger("http")->error("{} {} failed: {}", req.method, req.path, e.what());
                res = error(500, "internal_error", "the server failed to handle the request");
              }
            }
          }
        }
      }
      if (!parser.get().keep_alive()) close_after = true;
    }

    if (res.stream && res.status == 200) {
      // Streams (SSE, WebSocket) take the connection over.
      memory.give(charged);
      if (opts_.access_log) {
        access->info("{} {} stream {} id={} client={}", req.method, req.path,
                     res.websocket ? "websocket" : "sse", req.request_id, peer);
      }
      auto events = std::move(res.stream);
      if (res.websocket) {
        auto upgrade = parser.release();
        // This frame lives as long as the stream: keep nothing in it that the stream does
        // not need (nothing follows an upgrade request before the handshake's answer).
        req = {};
        res = {};
        buffer = {};
        co_await serve_websocket(stream.release_socket(), std::move(upgrade), std::move(events),
                                 opts_);
      } else {
        std::vector<std::pair<std::string, std::string>> headers = res.headers;
        headers.emplace_back("X-Request-Id", req.request_id);
        if (const std::string* origin = req.header("origin");
            origin && origin_allowed(opts_.cors_origins, *origin)) {
          headers.emplace_back("Access-Control-Allow-Origin",
                               opts_.cors_origins == "*" ? std::string("*") : *origin);
        }
        co_await serve_sse(std::move(stream), std::move(events), opts_, std::move(headers));
      }
      co_return;
    }

    // Render and send. A request refused before its headers were read still gets an id.
    if (req.request_id.empty()) req.request_id = fmt::format("{:x}-{:x}", shard, ++st.next_request);
    bhttp::response<bhttp::string_body> out;
    out.version(11);
    out.result(static_cast<unsigned>(res.status));
    out.set(bhttp::field::server, "riptide");
    out.set("X-Request-Id", req.request_id);
    if (!res.error.empty()) {
      res.body = render_error(res, req.request_id);
      res.content_type = "application/json";
    }
    if (res.status != 204 && res.status != 304)
      out.set(bhttp::field::content_type, res.content_type);
    for (const auto& [k, v] : res.headers) out.set(k, v);
    if (const std::string* origin = req.header("origin");
        origin && origin_allowed(opts_.cors_origins, *origin)) {
      out.set(bhttp::field::access_control_allow_origin,
              opts_.cors_origins == "*" ? std::string("*") : *origin);
      out.set(bhttp::field::access_control_expose_headers, "X-Request-Id");
      if (opts_.cors_origins != "*") out.set(bhttp::field::vary, "Origin");
    }
    const std::string* accept = req.header("accept-encoding");
    if (accept && res.body.size() >= 1024 && accept->find("gzip") != std::string::npos) {
      out.body() = gzip(res.body);
      out.set(bhttp::field::content_encoding, "gzip");
      out.set(bhttp::field::vary, "Accept-Encoding");
    } else {
      out.body() = std::move(res.body);
    }
    out.keep_alive(!close_after);
    if (res.status != 204) out.prepare_payload();
    const size_t body_bytes = out.body().size();
    if (req.method == "HEAD") out.body().clear();

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    static route_metrics unmatched = metrics_for("any", "unmatched");
    if (matched) {
      // One set of metrics per route, created on first use.
      static std::mutex mu;
      static std::map<const route*, route_metrics> by_route;
      route_metrics rm;
      {
        std::lock_guard lock(mu);
        auto it = by_route.find(matched);
        if (it == by_route.end()) {
          it = by_route.emplace(matched, metrics_for(matched->method, matched->pattern)).first;
        }
        rm = it->second;
      }
      rm.requests->add();
      if (res.status >= 400) rm.errors->add();
      rm.latency->observe(seconds);
    } else {
      unmatched.requests->add();
      unmatched.errors->add();
    }
    if (opts_.access_log) {
      access->info("{} {} {} {} {}B {:.3f}ms id={} client={} ua=\"{}\"",
                   req.method.empty() ? "-" : req.method, req.path.empty() ? "-" : req.path,
                   res.status, matched ? matched->pattern : "-", body_bytes, seconds * 1e3,
                   req.request_id.empty() ? "-" : req.request_id, peer,
                   req.who.client_id.value_or("-"));
    }

    stream.expires_after(opts_.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, out, as_tuple(use_awaitable));
    memory.give(charged);
    if (wec || close_after) {
      if (!wec) {
        boost::system::error_code ignored;
        stream.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
      }
      co_return;
    }
  }
}

}  // namespace http
