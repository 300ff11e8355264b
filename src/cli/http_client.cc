#include "cli/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cli/client.h"
#include "cli/env.h"

namespace cli {
namespace {

[[noreturn]] void unreachable(const endpoint& e, const std::string& detail) {
  throw failure(exit_unreachable,
                "cannot reach the HTTP listener at " + e.text() + ": " + detail +
                    "; is `riptide serve` running, and is --url its http_listen (default "
                    "127.0.0.1:9644)?");
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Removes HTTP/1.1 chunked framing.
std::string dechunk(std::string_view body) {
  std::string out;
  while (!body.empty()) {
    const size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) break;
    size_t n = 0;
    const auto [end, ec] = std::from_chars(body.data(), body.data() + eol, n, 16);
    if (ec != std::errc() || n == 0 || eol + 2 + n > body.size()) break;
    out.append(body.substr(eol + 2, n));
    body.remove_prefix(std::min(body.size(), eol + 2 + n + 2));
    (void)end;
  }
  return out;
}

}  // namespace

http_answer http_call(const endpoint& e, std::string_view method, const std::string& path,
                      const std::string& body, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &found); rc != 0) {
    unreachable(e, std::string("cannot resolve the host: ") + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(found, ::freeaddrinfo);
  fd_guard sock;
  std::string why = "no address";
  for (const addrinfo* a = addrs.get(); a != nullptr; a = a->ai_next) {
    fd_guard s{::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) continue;
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why = std::strerror(errno);
      continue;
    }
    if (!wait_fd(s.fd, POLLOUT, deadline)) {
      why = "no answer within --timeout";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      why = std::strerror(err);
      continue;
    }
    std::swap(sock.fd, s.fd);
    break;
  }
  if (sock.fd < 0) unreachable(e, why);
  std::string request = std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + e.host + ":" +
                        e.port + "\r\nUser-Agent: riptide-cli\r\nConnection: close\r\n";
  if (method != "GET" && method != "DELETE") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    if (!wait_fd(sock.fd, POLLOUT, deadline)) unreachable(e, "no answer within --timeout");
    const ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) unreachable(e, std::strerror(errno));
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[16384];
  for (;;) {
    if (!wait_fd(sock.fd, POLLIN, deadline)) unreachable(e, "no answer within --timeout");
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      unreachable(e, std::strerror(errno));
    }
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > (64u << 20)) fail("the answer of " + e.text() + path + " is over 64 MiB");
  }
  const size_t head_end = answer.find("\r\n\r\n");
  if (!answer.starts_with("HTTP/1.") || head_end == std::string::npos || answer.size() < 12) {
    fail(e.text() +
         " did not answer like an HTTP server; is --url the HTTP listener, not the "
         "Kafka one?");
  }
  http_answer out;
  out.status = std::atoi(answer.c_str() + 9);
  out.status_line = answer.substr(0, answer.find("\r\n"));
  std::string head = answer.substr(0, head_end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  out.body = answer.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) out.body = dechunk(out.body);
  return out;
}

std::string http_get(const endpoint& e, const std::string& path, int64_t timeout_ms) {
  auto a = http_call(e, "GET", path, "", timeout_ms);
  if (a.status != 200) fail("GET " + e.text() + path + " answered \"" + a.status_line + "\"");
  return a.body;
}

// "http://HOST:PORT", "HOST:PORT" or "[::1]:PORT"; a usage error naming the flag otherwise.
endpoint parse_url(std::string url) {
  const std::string original = url;
  if (url.starts_with("http://")) url.erase(0, 7);
  while (!url.empty() && url.back() == '/') url.pop_back();
  endpoint e;
  size_t colon = std::string::npos;
  if (url.starts_with("[")) {
    const size_t close = url.find(']');
    if (close != std::string::npos) {
      e.host = url.substr(1, close - 1);
      colon = close + 1 < url.size() && url[close + 1] == ':' ? close + 1 : std::string::npos;
    }
  } else {
    colon = url.rfind(':');
    if (colon != std::string::npos) e.host = url.substr(0, colon);
  }
  if (colon != std::string::npos) e.port = url.substr(colon + 1);
  int port = 0;
  const auto [end, ec] = std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (e.host.empty() || ec != std::errc() || end != e.port.data() + e.port.size() || port <= 0 ||
      port > 65535 || url.find('/') != std::string::npos) {
    usage_error("invalid --url \"" + original +
                "\": expected the HTTP listener as http://HOST:PORT, e.g. http://127.0.0.1:9644 "
                "(riptide serve's http_listen)");
  }
  return e;
}

std::string default_http_url(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv(std::string(http_url_env).c_str());
  return env != nullptr && *env != '\0' ? env : "http://127.0.0.1:9644";
}

}  // namespace cli
