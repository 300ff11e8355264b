#pragma once
// Shared-nothing shards: N threads, each running its own io_context. Partitions and
// groups are owned by one shard; work for another shard is posted to it and awaited
// with shard_set::invoke_on, so no state is shared between threads.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "base/executor.h"
#include "net/asio.h"

namespace net {

class shard final : public base::executor {
 public:
  explicit shard(unsigned id);
  ~shard() override;
  unsigned id() const { return id_; }
  asio::io_context& io() { return io_; }
  void post(std::function<void()> task) override { asio::post(io_, std::move(task)); }

  void start();
  void stop();  // lets run() return once the queued handlers are done, then joins

 private:
  unsigned id_;
  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
};

class shard_set {
 public:
  explicit shard_set(unsigned count);
  ~shard_set();

  unsigned size() const { return static_cast<unsigned>(shards_.size()); }
  shard& operator[](unsigned i) { return *shards_[i]; }
  // The shard running the calling thread (0 on threads that are not shards).
  static unsigned current();

  void start();
  void stop();

  // Runs `work` on shard `target` and resumes the caller on its own shard with the
  // result. `work` is a coroutine call made here (it starts suspended, with its
  // arguments copied into its frame); pass values, not references to the caller's
  // locals unless the caller awaits. Capturing lambdas are deliberately not accepted:
  // GCC 12 mishandles lambda objects held in coroutine frames.
  template <typename T>
  task<T> invoke_on(unsigned target, task<T> work) {
    return asio::co_spawn(shards_[target]->io(), std::move(work), asio::use_awaitable);
  }

 private:
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace net
