#pragma once
// result<T>: a value or a std::error_code. Each layer defines its own error enum
// (storage::errc, ...) registered as a std::error_category, so errors stay values
// inside a layer and are translated once at its edge.

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace base {

template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  result(std::error_code ec) : v_(std::in_place_index<1>, ec) {      // NOLINT(implicit)
    assert(ec);
  }
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  result(E e) : result(make_error_code(e)) {}  // NOLINT(implicit)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const { return has_value() ? std::error_code{} : std::get<1>(v_); }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(std::error_code ec) : ec_(ec) {}  // NOLINT(implicit)
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  result(E e) : ec_(make_error_code(e)) {}  // NOLINT(implicit)

  bool has_value() const { return !ec_; }
  explicit operator bool() const { return has_value(); }
  std::error_code error() const { return ec_; }

 private:
  std::error_code ec_;
};

using status = result<void>;

// The errno of the last failed system call as an error_code.
inline std::error_code last_system_error() {
  return {errno, std::system_category()};
}

}  // namespace base

// Propagates the error of `expr` (a result) from the enclosing function.
#define RIPTIDE_TRY(expr)                              \
  do {                                                 \
    if (auto riptide_try_r = (expr); !riptide_try_r) { \
      return riptide_try_r.error();                    \
    }                                                  \
  } while (false)
