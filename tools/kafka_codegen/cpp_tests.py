"""Emits the generated round-trip unit test and the libFuzzer targets."""

import re
import zlib

from cpp_codec import BANNER, default_value, file_stem, is_optional
from schema import PRIMITIVES, condition


def field_hash(msg, st, f):
    return zlib.crc32(f"{msg.name}.{st.qualified()}.{f.json_name}".encode()) & 0xFFFFFFFF


def fill_value(f, h, seed):
    """Expression for a non-default value of the field (not null)."""
    t = f.base_type
    if t == "bool":
        default = str(f.default).lower() == "true" if f.default is not None else False
        return "false" if default else "true"
    if t == "float64":
        return f"0.5 + static_cast<double>(mix({h}u, version, {seed}) % 1000)"
    if t == "uuid":
        return f"make_uuid({h}u, version, {seed})"
    if t == "string":
        return f"make_text({h}u, version, {seed})"
    if t == "bytes":
        return f"make_blob({h}u, version, {seed})"
    if t == "records":
        return f"make_records({h}u, version, {seed})"
    ctype = PRIMITIVES[t][0]
    return f"pick<{ctype}>({h}u, version, {seed}, {default_value(f)})"


def emit_fill(msg, st):
    lines = [f"void fill({st.qualified()}& x, int16_t version, uint32_t seed) {{"]
    ctx = st.versions
    for f in st.fields:
        pres_regular = f.regular_versions().intersect(ctx)
        pres_tagged = f.tagged_versions().intersect(ctx)
        for pres in (pres_regular, pres_tagged):
            if pres.empty():
                continue
            h = field_hash(msg, st, f)
            body = fill_field(f, f"x.{f.cname}", h, pres)
            cond = condition(pres, ctx, "version")
            if cond == "true":
                lines += ["  " + x for x in body]
            elif cond != "false":
                lines += [f"  if ({cond}) {{"] + ["    " + x for x in body] + ["  }"]
    body = "\n".join(lines[1:])
    for name in ("seed", "version", "x"):
        if not re.search(rf"\b{name}\b", body):
            lines.insert(1, f"  (void){name};")
    lines.append("}")
    return lines


def fill_field(f, target, h, pres):
    null_ok = condition(f.nullable, pres, "version")
    opt = is_optional(f)
    if f.is_array:
        if f.is_struct:
            vec = f"{target}.emplace()" if opt else target
            value = [
                "{",
                f"  auto& v = {vec};",
                "  v.resize(2);",
                "  fill(v[0], version, seed * 2 + 2);",
                "  fill(v[1], version, seed * 2 + 3);",
                "}",
            ]
        else:
            a = fill_scalar(f, h, "seed * 2 + 2")
            b = fill_scalar(f, h, "seed * 2 + 3")
            elem = "std::vector<" + element_ctype(f) + ">"
            value = [f"{target} = {elem}{{{a}, {b}}};"]
        null = [f"{target}.reset();"] if opt else []
    elif f.is_struct:
        if opt:
            value = [f"fill({target}.emplace(), version, seed * 2 + 2);"]
            null = [f"{target}.reset();"]
        else:
            value = [f"fill({target}, version, seed * 2 + 2);"]
            null = []
    else:
        value = [f"{target} = {fill_value(f, h, 'seed')};"]
        if f.base_type == "records":
            null = [f"{target} = records{{}};", f"{target}.is_null = true;"]
        elif opt:
            null = [f"{target}.reset();"]
        else:
            null = []
    if null and null_ok != "false":
        cond = "seed % 2 == 1" if null_ok == "true" else f"seed % 2 == 1 && {null_ok}"
        return [f"if ({cond}) {{"] + ["  " + x for x in null] + ["} else {"] + [
            "  " + x for x in value
        ] + ["}"]
    return value


def element_ctype(f):
    if f.base_type == "string":
        return "std::string"
    if f.base_type == "bytes":
        return "std::vector<uint8_t>"
    return PRIMITIVES[f.base_type][0]


def fill_scalar(f, h, seed):
    t = f.base_type
    if t == "bool":
        return "true"
    if t == "string":
        return f"make_text({h}u, version, {seed})"
    if t == "bytes":
        return f"make_blob({h}u, version, {seed})"
    if t == "uuid":
        return f"make_uuid({h}u, version, {seed})"
    if t == "float64":
        return f"0.5 + static_cast<double>(mix({h}u, version, {seed}) % 1000)"
    ctype = PRIMITIVES[t][0]
    return f"pick<{ctype}>({h}u, version, {seed}, 0)"


def has_fields(msg, version):
    return any(
        f.regular_versions().contains(version) or f.tagged_versions().contains(version)
        for f in msg.root.fields
    )


TEST_PRELUDE = """
namespace {

using namespace kafka::protocol;

// Deterministic pseudo-random values derived from the field, the version and a seed.
uint32_t mix(uint32_t h, int16_t version, uint32_t seed) {
  uint32_t x = h ^ (static_cast<uint32_t>(version) * 0x9e3779b9u) ^ (seed * 0x85ebca6bu);
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// A full-width value of T that differs from the field's default.
template <typename T>
T pick(uint32_t h, int16_t version, uint32_t seed, T default_value) {
  const uint64_t bits =
      (static_cast<uint64_t>(mix(h, version, seed)) << 32) | mix(h + 1, version, seed);
  auto v = static_cast<T>(bits);
  if (v == default_value) v = static_cast<T>(v + 1);
  return v;
}

std::string make_text(uint32_t h, int16_t version, uint32_t seed) {
  char text[16];
  const int n = std::snprintf(text, sizeof(text), "t%08x", mix(h, version, seed));
  return std::string(text, static_cast<size_t>(n));
}

std::vector<uint8_t> make_blob(uint32_t h, int16_t version, uint32_t seed) {
  std::vector<uint8_t> b(1 + mix(h, version, seed) % 7);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(mix(h + static_cast<uint32_t>(i), version, seed));
  }
  return b;
}

uuid make_uuid(uint32_t h, int16_t version, uint32_t seed) {
  uuid u{};
  for (size_t i = 0; i < u.size(); ++i) {
    u[i] = static_cast<uint8_t>(mix(h + static_cast<uint32_t>(i), version, seed));
  }
  u[0] |= 1;  // never the all-zero default
  return u;
}

const std::vector<uint8_t>& record_bytes() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> b(64);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37 + 11);
    return b;
  }();
  return bytes;
}

// Some seeds carry the payload in `data` (as a broker does for fetched batches), others
// as a `view` (as decode produces); both must encode alike.
records make_records(uint32_t h, int16_t version, uint32_t seed) {
  const uint32_t m = mix(h, version, seed);
  auto bytes = std::span<const uint8_t>(record_bytes()).subspan(m % 16, 5 + (m >> 8) % 40);
  records r;
  if ((seed / 2) % 2 == 0) {
    r.data.append(bytes);
  } else {
    r.view = bytes;
  }
  return r;
}

std::vector<uint8_t> encode(const auto& message, int16_t version) {
  base::iobuf out;
  writer w(out);
  message.encode(w, version);
  EXPECT_TRUE(w.ok());
  auto bytes = out.linearize();
  EXPECT_TRUE(bytes.has_value());
  return bytes ? std::move(*bytes) : std::vector<uint8_t>{};
}
"""

TEST_CHECK = """
// Encode a filled message, decode it, encode again; then every truncation must fail.
template <typename T>
void check_roundtrip(int16_t version, uint32_t seed, bool expect_fields) {
  SCOPED_TRACE(testing::Message() << "version " << version << " seed " << seed);
  T original;
  fill(original, version, seed);
  if (expect_fields) {
    EXPECT_FALSE(original == T{}) << "fill left every field at its default";
  }
  const std::vector<uint8_t> bytes = encode(original, version);

  T decoded;
  reader r(bytes);
  ASSERT_TRUE(decoded.decode(r, version));
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(decoded == original);
  EXPECT_EQ(encode(decoded, version), bytes);

  for (size_t n = 0; n < bytes.size(); ++n) {
    T partial;
    reader pr(std::span<const uint8_t>(bytes).first(n));
    if (partial.decode(pr, version) && pr.remaining() == 0) {
      ADD_FAILURE() << "a " << n << "-byte prefix of " << bytes.size() << " bytes decoded";
      break;
    }
  }
}
"""


def emit_roundtrip_test(messages, source):
    structs = [(m, st) for m in messages for st in m.structs()]
    versions = sum(len(m.valid.each()) for m in messages)
    lines = [BANNER.format(source=source).rstrip("\n"), "//"]
    lines += [
        "// Round trip of every generated codec: for each message and valid version, fill every",
        "// field present in that version with a non-default value (two variants: values only,",
        "// and nulls wherever the version allows them), encode, decode, encode again, and",
        "// compare; then check that every truncation of the encoding fails to decode.",
        f"// Covers {len(messages)} messages and {versions} message versions.",
        "",
        "#include <gtest/gtest.h>",
        "",
        "#include <cstdint>",
        "#include <cstdio>",
        "#include <span>",
        "#include <string>",
        "#include <vector>",
        "",
    ]
    lines += [f'#include "kafka/protocol/generated/{file_stem(m)}.h"' for m in messages]
    lines += TEST_PRELUDE.split("\n")
    for m, st in structs:
        lines.append(f"void fill({st.qualified()}& x, int16_t version, uint32_t seed);")
    lines.append("")
    for m, st in structs:
        lines += emit_fill(m, st)
        lines.append("")
    lines += TEST_CHECK.split("\n")
    lines += ["}  // namespace", ""]
    for m in messages:
        with_fields = [v for v in m.valid.each() if has_fields(m, v)]
        lines += [
            f"TEST(KafkaCodecRoundtrip, {m.name}) {{",
            f"  using T = {m.cname};",
            "  for (int16_t v = T::min_version; v <= T::max_version; ++v) {",
        ]
        if len(with_fields) == len(m.valid.each()):
            lines.append("    const bool has_fields = true;")
        elif not with_fields:
            lines.append("    const bool has_fields = false;")
        else:
            cond = " || ".join(f"v == {v}" for v in with_fields)
            lines.append(f"    const bool has_fields = {cond};")
        lines += [
            "    check_roundtrip<T>(v, 0, has_fields);",
            "    check_roundtrip<T>(v, 1, false);",
            "  }",
            "}",
            "",
        ]
    return "\n".join(lines), len(messages), versions


FUZZ_TEMPLATE = """{banner}//
// libFuzzer target: the first four bytes give api_key and api_version (big-endian); the
// rest is a {kind} header of the version that API uses, then the {kind} body. Whatever
// decodes must encode, decode again to the same value and re-encode to the same bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "kafka/protocol/generated/api_table.h"
{includes}

namespace {{

using namespace kafka::protocol;

template <typename T>
std::vector<uint8_t> encoded(const T& message, int16_t version) {{
  base::iobuf out;
  writer w(out);
  message.encode(w, version);
  if (!w.ok()) std::abort();  // anything decoded must be representable
  auto bytes = out.linearize();
  if (!bytes) std::abort();
  return std::move(*bytes);
}}

// Messages with float64 fields may hold NaN, which never compares equal.
template <typename T>
bool decode_and_check(reader& r, int16_t version, bool comparable = true) {{
  T message;
  if (!message.decode(r, version)) return false;
  const std::vector<uint8_t> first = encoded(message, version);
  T again;
  reader r2(first);
  if (!again.decode(r2, version) || r2.remaining() != 0) std::abort();
  if (comparable && !(again == message)) std::abort();
  if (encoded(again, version) != first) std::abort();
  return true;
}}

}}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {{
  if (size < 4) return 0;
  const auto api_key = static_cast<int16_t>((data[0] << 8) | data[1]);
  const auto api_version = static_cast<int16_t>((data[2] << 8) | data[3]);
  reader r(std::span<const uint8_t>(data + 4, size - 4));
  if (!decode_and_check<{header}>(r, {header_version}(api_key, api_version))) return 0;
  switch (api_key) {{
{cases}
    default:
      break;
  }}
  return 0;
}}
"""


def comparable(msg):
    return not any(f.base_type == "float64" for st in msg.structs() for f in st.fields)


def emit_fuzz_target(kind, messages, source):
    header = "request_header" if kind == "request" else "response_header"
    chosen = [m for m in messages if m.kind == kind]
    includes = [f'#include "kafka/protocol/generated/{header}.h"']
    includes += [f'#include "kafka/protocol/generated/{file_stem(m)}.h"' for m in chosen]
    cases = []
    for m in sorted(chosen, key=lambda m: m.api_key):
        extra = "" if comparable(m) else ", false"
        cases += [
            f"    case {m.cname}::api_key:",
            f"      decode_and_check<{m.cname}>(r, api_version{extra});",
            "      break;",
        ]
    return FUZZ_TEMPLATE.format(
        banner=BANNER.format(source=source),
        kind=kind,
        includes="\n".join(sorted(includes)),
        header=header,
        header_version=f"{kind}_header_version",
        cases="\n".join(cases),
    )
