#pragma once
// Records in JSON, as the read routes and the streams (SSE, WebSocket) give them.
//
// Keys and values travel in one of three formats, chosen per request:
//   json    any JSON value, stored as its serialized text and read back as JSON; a key
//           that is a JSON string is stored as its text, so that it is hashed to the
//           same partition as the same key sent by a Kafka client
//   text    a JSON string, stored as its UTF-8 bytes
//   binary  a base64 string, stored as the bytes it decodes to
// Read in json format, bytes that are not JSON are given as a string when they are
// UTF-8 (a record a Kafka client wrote as plain text); bytes that are not UTF-8 are given
// in base64 with "value_encoding": "base64" (or "key_encoding") in json and text
// formats, so every stored record can be read whoever wrote it. The json format is about
// values, not bytes: a value is parsed and serialized again (whitespace goes, 1.0 may come
// back as 1E0); text and binary give the stored bytes exactly. Header values are text
// (base64 in binary format).

#include <boost/json.hpp>
#include <optional>
#include <string_view>

#include "broker/records.h"

namespace http {

enum class format { json, text, binary };

std::optional<format> parse_format(std::string_view s);

// {"topic"?, "partition", "offset", "timestamp", "key", "value", "headers": [...]}
boost::json::object record_to_json(const broker::record& r, int32_t partition, format f);

}  // namespace http
