#include "net/shard.h"

#include <fmt/format.h>

#include "base/executor.h"

namespace net {
namespace {
thread_local unsigned t_current_shard = 0;
}

shard::shard(unsigned id) : id_(id) {}

shard::~shard() {
  stop();
}

void shard::start() {
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    t_current_shard = id_;
    base::set_thread_name(fmt::format("shard-{}", id_).c_str());
    io_.run();
  });
}

void shard::stop() {
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

shard_set::shard_set(unsigned count) {
  for (unsigned i = 0; i < count; ++i) shards_.push_back(std::make_unique<shard>(i));
}

shard_set::~shard_set() {
  stop();
}

unsigned shard_set::current() {
  return t_current_shard;
}

void shard_set::start() {
  for (auto& s : shards_) s->start();
}

void shard_set::stop() {
  for (auto& s : shards_) s->stop();
}

}  // namespace net
