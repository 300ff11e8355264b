#include "http/transport.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <fmt/format.h>

#include <boost/beast/websocket.hpp>

#include "base/logging.h"
#include "base/metrics.h"

namespace http {
namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using net::asio::as_tuple;
using net::asio::use_awaitable;

std::atomic<int64_t> g_open[2];  // [0] SSE, [1] WebSocket

const char* kind_name(bool ws) {
  return ws ? "websocket" : "sse";
}

base::metrics::counter& pushed_bytes(bool ws) {
  static auto& sse = base::metrics::registry::global().get_counter(
      "riptide_http_stream_bytes_total", "Bytes of events pushed to stream clients",
      {{"kind", "sse"}});
  static auto& wsc = base::metrics::registry::global().get_counter(
      "riptide_http_stream_bytes_total", "Bytes of events pushed to stream clients",
      {{"kind", "websocket"}});
  return ws ? wsc : sse;
}

base::metrics::counter& slow_disconnects(bool ws) {
  return base::metrics::registry::global().get_counter(
      "riptide_http_stream_slow_disconnects_total",
      "Stream clients disconnected for leaving more than http.stream_send_buffer unread for "
      "longer than http.write_timeout",
      {{"kind", kind_name(ws)}});
}

void register_gauge() {
  static const bool once = [] {
    base::metrics::registry::global().add_gauge(
        "riptide_http_streams_open", "Open SSE and WebSocket streams",
        [](std::vector<std::pair<base::metrics::labels, double>>& out) {
          out.push_back({{{"kind", "sse"}}, static_cast<double>(g_open[0].load())});
          out.push_back({{{"kind", "websocket"}}, static_cast<double>(g_open[1].load())});
        });
    return true;
  }();
  (void)once;
}

// Bytes written to the socket that the peer has not acknowledged yet.
size_t unsent_bytes(int fd) {
  int n = 0;
  if (::ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0) return 0;
  return static_cast<size_t>(n);
}

// Waits until the client has read enough that `next` more bytes leave at most `limit`
// unread (or everything, for an event larger than `limit`); false when that takes longer
// than `patience`, or the client went away (`closed`). A client catching up on a backlog
// reads as fast as it can: it is cut off only when it stops making room.
template <typename State>
net::task<bool> room_for(std::shared_ptr<State> s, int fd, size_t next, size_t limit,
                         std::chrono::milliseconds patience) {
  // What was unread when last asked plus what was written since bounds what is unread
  // now: while that leaves room, no need to ask the kernel.
  if (s->unread_bound + next <= limit) co_return true;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  net::asio::steady_timer pause(co_await net::asio::this_coro::executor);
  auto step = std::chrono::milliseconds(1);
  for (;;) {
    const size_t unread = unsent_bytes(fd);
    if (unread == 0 || unread + next <= limit) {
      s->unread_bound = unread;
      co_return true;
    }
    if (s->closed || std::chrono::steady_clock::now() >= deadline) co_return false;
    pause.expires_after(step);
    co_await pause.async_wait(as_tuple(use_awaitable));
    step = std::min(step * 2, std::chrono::milliseconds(50));
  }
}

struct open_stream {
  explicit open_stream(bool ws) : websocket(ws) {
    register_gauge();
    stream_counters::opened(websocket);
  }
  ~open_stream() { stream_counters::closed(websocket); }
  bool websocket;
};

// ---- Server-Sent Events -------------------------------------------------------------

struct sse_state {
  explicit sse_state(beast::tcp_stream s)
      : stream(std::move(s)),
        deadline(stream.get_executor()),
        wake(std::make_shared<wakeup>(stream.get_executor())) {
    deadline.expires_at(std::chrono::steady_clock::time_point::max());
  }
  beast::tcp_stream stream;
  net::asio::steady_timer deadline;  // of the write in progress
  std::shared_ptr<wakeup> wake;
  bool closed = false;
  bool timed_out = false;
  size_t unread_bound = 0;  // never less than the bytes written and not yet read
};

// Closes the socket when a write passes its deadline.
net::task<void> sse_watchdog(std::shared_ptr<sse_state> s) {
  for (;;) {
    auto [ec] = co_await s->deadline.async_wait(as_tuple(use_awaitable));
    if (s->closed) co_return;
    if (!ec && s->deadline.expiry() <= std::chrono::steady_clock::now()) {
      s->timed_out = true;
      boost::system::error_code ignored;
      s->stream.socket().close(ignored);
      co_return;
    }
  }
}

// Notices the client going away (EOF) while the stream waits for records.
net::task<void> sse_reader(std::shared_ptr<sse_state> s) {
  char buf[256];
  for (;;) {
    auto [ec, n] = co_await s->stream.socket().async_read_some(net::asio::buffer(buf),
                                                               as_tuple(use_awaitable));
    if (ec) {
      s->closed = true;
      s->wake->wake();
      s->deadline.cancel();
      co_return;
    }
  }
}

net::task<bool> sse_write(std::shared_ptr<sse_state> s, std::string data,
                          std::chrono::milliseconds timeout) {
  s->deadline.expires_after(timeout);
  auto [ec, n] = co_await net::asio::async_write(s->stream.socket(), net::asio::buffer(data),
                                                 as_tuple(use_awaitable));
  s->deadline.expires_at(std::chrono::steady_clock::time_point::max());
  if (!ec) {
    pushed_bytes(false).add(n);
    s->unread_bound += n;
  }
  co_return !ec;
}

}  // namespace

void stream_counters::opened(bool websocket) {
  g_open[websocket ? 1 : 0].fetch_add(1);
}
void stream_counters::closed(bool websocket) {
  g_open[websocket ? 1 : 0].fetch_sub(1);
}

net::task<void> serve_sse(beast::tcp_stream stream, std::shared_ptr<event_stream> events,
                          server_options opts,
                          std::vector<std::pair<std::string, std::string>> headers) {
  open_stream counted(false);
  stream.expires_never();
  auto s = std::make_shared<sse_state>(std::move(stream));
  const auto ex = s->stream.get_executor();
  net::asio::co_spawn(ex, sse_watchdog(s), net::asio::detached);
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: riptide\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n";
  for (const auto& [k, v] : headers) head += fmt::format("{}: {}\r\n", k, v);
  head += "\r\n: connected\n\n";
  bool ok = co_await sse_write(s, std::move(head), opts.write_timeout);
  if (ok) net::asio::co_spawn(ex, sse_reader(s), net::asio::detached);
  const int fd = s->stream.socket().native_handle();
  auto last_write = std::chrono::steady_clock::now();
  while (ok && !s->closed && !events->ended() && !stopping()) {
    auto evs = co_await events->next(s->wake, opts.stream_ping);
    if (s->closed) break;
    if (evs.empty()) {
      // A comment line now and then keeps proxies from closing an idle stream and tells
      // a client that is gone apart.
      if (std::chrono::steady_clock::now() - last_write >= opts.stream_ping) {
        ok = co_await sse_write(s, ": ping\n\n", opts.write_timeout);
        last_write = std::chrono::steady_clock::now();
      }
      continue;
    }
    last_write = std::chrono::steady_clock::now();
    for (auto& ev : evs) {
      std::string text = fmt::format("id: {}\nevent: {}\ndata: {}\n\n", ev.id, ev.name, ev.body());
      if (!co_await room_for(s, fd, text.size(), opts.stream_send_buffer, opts.write_timeout)) {
        if (s->closed) {
          ok = false;
          break;
        }
        slow_disconnects(false).add();
        std::string last = fmt::format(
            "event: error\ndata: {{\"error\":\"client_too_slow\",\"message\":\"more than {} "
            "bytes unread (http.stream_send_buffer) for {} ms (http.write_timeout)\"}}\n\n",
            opts.stream_send_buffer, opts.write_timeout.count());
        co_await sse_write(s, std::move(last), std::chrono::milliseconds(1000));
        ok = false;
        break;
      }
      ok = co_await sse_write(s, std::move(text), opts.write_timeout);
      if (!ok) {
        if (s->timed_out) slow_disconnects(false).add();
        break;
      }
    }
  }
  s->closed = true;
  s->deadline.cancel();
  boost::system::error_code ignored;
  s->stream.socket().shutdown(net::tcp::socket::shutdown_both, ignored);
  s->stream.socket().close(ignored);
  co_await events->close();
}

// ---- WebSocket ------------------------------------------------------------------------

namespace {

struct server_header {
  void operator()(websocket::response_type& res) const {
    res.set(beast::http::field::server, "riptide");
  }
};

struct ws_state {
  explicit ws_state(net::tcp::socket s)
      : ws(std::move(s)),
        deadline(ws.get_executor()),
        wake(std::make_shared<wakeup>(ws.get_executor())) {
    deadline.expires_at(std::chrono::steady_clock::time_point::max());
  }
  websocket::stream<beast::tcp_stream> ws;
  net::asio::steady_timer deadline;
  std::shared_ptr<wakeup> wake;
  bool closed = false;                 // the client went away, or the socket failed
  bool timed_out = false;              // a write passed http.write_timeout
  size_t unread_bound = 0;             // never less than the bytes written and not read
  std::optional<std::string> refused;  // a client message the stream refused
};

net::task<void> ws_watchdog(std::shared_ptr<ws_state> s) {
  for (;;) {
    auto [ec] = co_await s->deadline.async_wait(as_tuple(use_awaitable));
    if (s->closed) co_return;
    if (!ec && s->deadline.expiry() <= std::chrono::steady_clock::now()) {
      s->timed_out = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(s->ws).socket().close(ignored);
      co_return;
    }
  }
}

// Reads the client's messages piece by piece into a small array of the frame: a pending
// async_read of a whole message prepares 1.5 KiB of its dynamic buffer, which every idle
// subscriber would hold. Messages stay bounded by read_message_max.
net::task<void> ws_reader(std::shared_ptr<ws_state> s, std::shared_ptr<event_stream> events) {
  char piece[128];
  std::string text;
  for (;;) {
    auto [ec, n] =
        co_await s->ws.async_read_some(net::asio::buffer(piece), as_tuple(use_awaitable));
    if (ec) {
      s->closed = true;
      s->wake->wake();
      s->deadline.cancel();
      co_return;
    }
    text.append(piece, n);
    if (!s->ws.is_message_done()) continue;
    if (!s->ws.got_text()) {
      s->refused = "only text messages are accepted: {\"credit\": N}";
    } else {
      s->refused = events->on_message(text);
    }
    text.clear();
    s->wake->wake();
    if (s->refused) co_return;
  }
}

net::task<void> ws_close(std::shared_ptr<ws_state> s, websocket::close_code code,
                         std::string reason) {
  if (reason.size() > 120) reason.resize(120);  // a close frame carries at most 123 bytes
  s->deadline.expires_after(std::chrono::seconds(2));
  websocket::close_reason why(code, reason);
  co_await s->ws.async_close(why, as_tuple(use_awaitable));
}

}  // namespace

net::task<void> serve_websocket(net::tcp::socket socket,
                                beast::http::request<beast::http::string_body> upgrade,
                                std::shared_ptr<event_stream> events, server_options opts) {
  open_stream counted(true);
  auto s = std::make_shared<ws_state>(std::move(socket));
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = opts.stream_ping * 2;  // a ping at half of it; closed without an answer
  t.keep_alive_pings = true;
  s->ws.set_option(t);
  s->ws.set_option(websocket::stream_base::decorator(server_header{}));
  s->ws.read_message_max(64 * 1024);
  s->ws.text(true);
  auto [aec] = co_await s->ws.async_accept(upgrade, as_tuple(use_awaitable));
  upgrade = {};  // its headers are not needed again: an idle subscriber keeps no copy
  if (aec) {
    co_await events->close();
    co_return;
  }
  const auto ex = s->ws.get_executor();
  net::asio::co_spawn(ex, ws_watchdog(s), net::asio::detached);
  net::asio::co_spawn(ex, ws_reader(s, events), net::asio::detached);
  const int fd = beast::get_lowest_layer(s->ws).socket().native_handle();
  std::optional<std::pair<websocket::close_code, std::string>> close_with;
  while (!s->closed && !close_with && !stopping()) {
    if (s->refused) {
      close_with.emplace(websocket::close_code::policy_error, *s->refused);
      break;
    }
    auto evs = co_await events->next(s->wake, opts.stream_ping);
    if (s->closed) break;
    for (auto& ev : evs) {
      if (ev.name == "error") {
        close_with.emplace(websocket::close_code::going_away, std::string(ev.body()));
        break;
      }
      if (!co_await room_for(s, fd, ev.body().size(), opts.stream_send_buffer,
                             opts.write_timeout)) {
        if (s->closed) break;
        slow_disconnects(true).add();
        close_with.emplace(websocket::close_code::policy_error,
                           fmt::format("client too slow: more than {} bytes unread for {} ms",
                                       opts.stream_send_buffer, opts.write_timeout.count()));
        break;
      }
      s->deadline.expires_after(opts.write_timeout);
      auto [wec, wn] = co_await s->ws.async_write(
          net::asio::buffer(ev.body().data(), ev.body().size()), as_tuple(use_awaitable));
      s->deadline.expires_at(std::chrono::steady_clock::time_point::max());
      if (wec) {
        if (s->timed_out) slow_disconnects(true).add();
        s->closed = true;
        break;
      }
      pushed_bytes(true).add(wn);
      s->unread_bound += wn + 14;  // and the frame's header
    }
    if (events->ended() && !close_with) {
      close_with.emplace(websocket::close_code::normal, "stream ended");
    }
  }
  if (close_with && !s->closed) {
    co_await ws_close(s, close_with->first, close_with->second);
  }
  s->closed = true;
  s->deadline.cancel();
  boost::system::error_code ignored;
  beast::get_lowest_layer(s->ws).socket().close(ignored);
  co_await events->close();
}

}  // namespace http
