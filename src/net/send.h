#pragma once
// Writing an iobuf to a socket: runs of memory fragments go out with one vectored
// write, file ranges with sendfile (zero copy from the page cache).

#include "base/iobuf.h"
#include "net/asio.h"

namespace net {

// Returns an empty error_code or the first send error.
task<boost::system::error_code> send_iobuf(tcp::socket& socket, const base::iobuf& buf);

}  // namespace net
