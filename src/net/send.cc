#include "net/send.h"

#include <sys/sendfile.h>

#include <vector>

namespace net {

task<boost::system::error_code> send_iobuf(tcp::socket& socket, const base::iobuf& buf) {
  std::vector<asio::const_buffer> pending;
  auto flush = [&]() -> task<boost::system::error_code> {
    if (pending.empty()) co_return boost::system::error_code{};
    auto [ec, n] = co_await asio::async_write(socket, pending, asio::as_tuple(asio::use_awaitable));
    pending.clear();
    co_return ec;
  };
  for (const auto& frag : buf.fragments()) {
    if (const auto* m = std::get_if<base::memory_fragment>(&frag)) {
      pending.emplace_back(m->bytes().data(), m->size);
      continue;
    }
    if (auto ec = co_await flush()) co_return ec;
    const auto& f = std::get<base::file_fragment>(frag);
    socket.native_non_blocking(true);
    auto offset = static_cast<off_t>(f.offset);
    size_t left = f.size;
    while (left > 0) {
      ssize_t n = ::sendfile(socket.native_handle(), f.source->fd(), &offset, left);
      if (n > 0) {
        left -= static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto [ec] = co_await socket.async_wait(tcp::socket::wait_write,
                                               asio::as_tuple(asio::use_awaitable));
        if (ec) co_return ec;
        continue;
      }
      // n == 0: the file is shorter than the range (truncated under us).
      co_return n == 0 ? asio::error::make_error_code(asio::error::eof)
                       : boost::system::error_code(errno, boost::system::system_category());
    }
  }
  co_return co_await flush();
}

}  // namespace net
