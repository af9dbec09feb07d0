// A fixed set of worker threads that sleep on a condition variable between jobs, so an idle
// pool takes no CPU from the float ops that run between binary ones.
#ifndef BCN_LCE_THREAD_POOL_H_
#define BCN_LCE_THREAD_POOL_H_

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace bcn_lce {

class ThreadPool {
 public:
  // `threads` counts the calling thread: ThreadPool(1) starts no worker.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(task, thread) for every task in [0, tasks), spread over the threads (thread is
  // in [0, size())), and returns when all have finished. Allocates nothing.
  template <typename Function>
  void Run(int tasks, Function& fn) {
    Dispatch(
        tasks, [](void* f, int task, int thread) { (*static_cast<Function*>(f))(task, thread); }, &fn);
  }

 private:
  using Call = void (*)(void* function, int task, int thread);
  void Dispatch(int tasks, Call call, void* function);
  void Work(int thread);
  void Drain(std::unique_lock<std::mutex>& lock, int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Call call_ = nullptr;
  void* function_ = nullptr;
  int tasks_ = 0;
  int next_task_ = 0;
  int busy_ = 0;
  unsigned generation_ = 0;
  bool stopping_ = false;
};

}  // namespace bcn_lce

#endif  // BCN_LCE_THREAD_POOL_H_
