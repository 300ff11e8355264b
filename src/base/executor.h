#pragma once
// executor: where a piece of work runs. Shard-owned objects (a partition log, a
// group) are given the executor of their shard; work finished elsewhere (an fsync on
// the flusher thread) is posted back to it, so their state is only ever touched on
// the owning shard. The broker's shards adapt their io_context to this interface;
// task_thread is a plain thread with a queue for tools, tests and benchmarks.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace base {

// Names the calling thread (as `top -H`, `ps -L` and perf show it); Linux keeps 15
// characters.
void set_thread_name(const char* name);

class executor {
 public:
  virtual ~executor() = default;
  virtual void post(std::function<void()> task) = 0;
};

class task_thread final : public executor {
 public:
  task_thread();
  ~task_thread() override;  // runs the tasks already posted, then joins
  task_thread(const task_thread&) = delete;
  task_thread& operator=(const task_thread&) = delete;

  void post(std::function<void()> task) override;
  // Posts `fn` and waits for it to finish; returns its value.
  template <typename F>
  auto run(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::promise<R> done;
    auto fut = done.get_future();
    post([&] {
      if constexpr (std::is_void_v<R>) {
        fn();
        done.set_value();
      } else {
        done.set_value(fn());
      }
    });
    return fut.get();
  }
  bool on_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace base
