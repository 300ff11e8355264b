#pragma once
// Broker errors as HTTP answers: one status and one stable name per broker::errc, so
// every route maps them the same way.

#include <string>
#include <system_error>

#include "http/api.h"

namespace http {

struct http_error {
  int status;
  const char* name;  // stable, snake_case: clients may switch on it
  int code;          // error_code in the body (REST Proxy style: status * 100 + n)
};

// How `ec` (a broker error, or any error translated by broker::to_broker_error) answers.
http_error classify(std::error_code ec);
// The error response for `ec`, with `message` (empty: the error's own message).
response from_error(std::error_code ec, std::string message = {});

}  // namespace http
