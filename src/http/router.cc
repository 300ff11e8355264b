#include "http/router.h"

#include <algorithm>

namespace http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t end = std::min(path.find('/', i), path.size());
    auto seg = percent_decode(path.substr(i, end - i), false);
    if (!seg || seg->find('/') != std::string::npos || seg->find('\0') != std::string::npos) {
      return std::nullopt;
    }
    out.push_back(std::move(*seg));
    i = end;
  }
  return out;
}

std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view q) {
  std::map<std::string, std::string, std::less<>> out;
  size_t i = 0;
  while (i <= q.size()) {
    const size_t end = std::min(q.find('&', i), q.size());
    const std::string_view pair = q.substr(i, end - i);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      auto k = percent_decode(pair.substr(0, eq), true);
      auto v = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!k || !v) return std::nullopt;
      out.insert_or_assign(std::move(*k), std::move(*v));
    }
    i = end + 1;
  }
  return out;
}

void router::add(route r) {
  routes_.push_back(std::move(r));
}

router::match router::find(std::string_view method, std::string_view path) const {
  match m;
  auto segs = split_path(path);
  if (!segs) return m;
  for (const auto& r : routes_) {
    auto pat = split_path(r.pattern);
    if (!pat || pat->size() != segs->size()) continue;
    std::map<std::string, std::string, std::less<>> params;
    bool ok = true;
    for (size_t i = 0; i < pat->size() && ok; ++i) {
      const std::string& p = (*pat)[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        if ((*segs)[i].empty()) ok = false;
        params[p.substr(1, p.size() - 2)] = (*segs)[i];
      } else if (p != (*segs)[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      m.found = &r;
      m.params = std::move(params);
      return m;
    }
    if (std::find(m.allowed.begin(), m.allowed.end(), r.method) == m.allowed.end()) {
      m.allowed.push_back(r.method);
    }
  }
  return m;
}

router make_router() {
  router r;
  add_system_routes(r);
  add_topic_routes(r);
  add_record_routes(r);
  add_stream_routes(r);
  add_group_routes(r);
  add_rest_v2_routes(r);
  add_rest_v3_routes(r);
  add_queue_routes(r);
  add_openapi_route(r);
  return r;
}

}  // namespace http
