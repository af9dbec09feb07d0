#include "thread_pool.h"

namespace bcn_lce {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { Work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::Drain(std::unique_lock<std::mutex>& lock, int thread) {
  while (next_task_ < tasks_) {
    const int task = next_task_++;
    lock.unlock();
    call_(function_, task, thread);
    lock.lock();
  }
}

void ThreadPool::Work(int thread) {
  unsigned seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    ++busy_;
    Drain(lock, thread);
    if (--busy_ == 0) done_.notify_all();
  }
}

void ThreadPool::Dispatch(int tasks, Call call, void* function) {
  if (workers_.empty() || tasks <= 1) {
    for (int task = 0; task < tasks; ++task) call(function, task, 0);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  call_ = call;
  function_ = function;
  tasks_ = tasks;
  next_task_ = 0;
  ++generation_;
  wake_.notify_all();
  Drain(lock, 0);
  done_.wait(lock, [&] { return busy_ == 0; });
  call_ = nullptr;
  function_ = nullptr;
  tasks_ = 0;
}

}  // namespace bcn_lce
