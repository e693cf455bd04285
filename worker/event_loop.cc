#include "worker/event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

namespace hl::worker {
namespace {

uint32_t EpollEvents(uint32_t interest) {
  uint32_t events = 0;
  if (interest & EventLoop::kRead) events |= EPOLLIN;
  if (interest & EventLoop::kWrite) events |= EPOLLOUT;
  return events;
}

uint64_t Tag(int fd, uint32_t generation) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

}  // namespace

int64_t SteadyClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<EventLoop>> EventLoop::Create(Clock monotonic_ms) {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    return Internal(std::string("epoll_create1 failed: ") +
                    std::strerror(errno));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(fd, std::move(monotonic_ms)));
}

EventLoop::EventLoop(int epoll_fd, Clock clock)
    : epoll_fd_(epoll_fd), clock_(std::move(clock)) {}

EventLoop::~EventLoop() { close(epoll_fd_); }

Status EventLoop::Watch(int fd, uint32_t interest, IoCallback callback) {
  const uint32_t generation = next_generation_++;
  epoll_event event{};
  event.events = EpollEvents(interest);
  event.data.u64 = Tag(fd, generation);
  // The map and the kernel disagree when an owner closed a descriptor
  // without Unwatch (the kernel forgets it) and the number came back: the
  // other operation then applies.
  const auto found = watches_.find(fd);
  const bool known = found != watches_.end();
  if (epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event) !=
          0 &&
      (errno != (known ? ENOENT : EEXIST) ||
       epoll_ctl(epoll_fd_, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd,
                 &event) != 0)) {
    return Internal("cannot watch descriptor " + std::to_string(fd) + ": " +
                    std::strerror(errno));
  }
  if (!known) {
    watches_.emplace(
        fd, Watched{generation, interest,
                    std::make_shared<IoCallback>(std::move(callback))});
    return Status::Ok();
  }
  Watched& watched = found->second;
  watched.generation = generation;
  watched.interest = interest;
  // The callback object is reused unless it is running (RunOnce holds a
  // second reference then).
  if (watched.callback.use_count() == 1) {
    *watched.callback = std::move(callback);
  } else {
    watched.callback = std::make_shared<IoCallback>(std::move(callback));
  }
  return Status::Ok();
}

void EventLoop::Unwatch(int fd) {
  if (watches_.erase(fd) == 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

int EventLoop::Close(int fd) {
  watches_.erase(fd);
  return close(fd);
}

EventLoop::TimerId EventLoop::After(int64_t delay_ms,
                                    std::function<void()> callback) {
  const TimerId id = next_timer_++;
  const int64_t deadline = clock_() + std::max<int64_t>(delay_ms, 0);
  timers_.emplace(std::make_pair(deadline, id), std::move(callback));
  timer_deadlines_.emplace(id, deadline);
  return id;
}

void EventLoop::Cancel(TimerId id) {
  auto found = timer_deadlines_.find(id);
  if (found == timer_deadlines_.end()) return;
  timers_.erase({found->second, id});
  timer_deadlines_.erase(found);
}

void EventLoop::Defer(std::function<void()> callback) {
  deferred_.push_back(std::move(callback));
}

void EventLoop::RunDeferred() {
  // Calls deferred while these run wait for the next round of this loop.
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> batch;
    batch.swap(deferred_);
    for (auto& callback : batch) callback();
  }
}

Status EventLoop::RunOnce(int max_wait_ms) {
  // Deferred calls that ran may have satisfied the caller's condition: the
  // turn then only polls for I/O.
  const bool ran_deferred = !deferred_.empty();
  RunDeferred();
  int64_t wait = ran_deferred ? 0 : max_wait_ms < 0 ? -1 : max_wait_ms;
  if (!timers_.empty()) {
    const int64_t until_timer =
        std::max<int64_t>(timers_.begin()->first.first - clock_(), 0);
    wait = wait < 0 ? until_timer : std::min(wait, until_timer);
  }
  constexpr int kMaxEvents = 256;
  std::array<epoll_event, kMaxEvents> events;
  const int ready = epoll_wait(epoll_fd_, events.data(), kMaxEvents,
                               static_cast<int>(std::min<int64_t>(
                                   wait, std::numeric_limits<int>::max())));
  if (ready < 0 && errno != EINTR) {
    return Internal(std::string("epoll_wait failed: ") + std::strerror(errno));
  }
  for (int i = 0; i < ready; ++i) {
    const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
    const auto generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
    auto found = watches_.find(fd);
    if (found == watches_.end() || found->second.generation != generation) {
      continue;  // unwatched or re-watched during this turn
    }
    uint32_t flags = 0;
    if (events[i].events & (EPOLLERR | EPOLLHUP)) {
      flags = kRead | kWrite;
    } else {
      if (events[i].events & EPOLLIN) flags |= kRead;
      if (events[i].events & EPOLLOUT) flags |= kWrite;
    }
    // The callback may replace or drop its own watch: keep it alive.
    std::shared_ptr<IoCallback> callback = found->second.callback;
    (*callback)(flags);
  }
  // Timers added by these callbacks wait for the next turn, so a timer
  // that re-arms itself with no delay cannot starve the descriptors.
  const int64_t now = clock_();
  std::vector<std::pair<int64_t, TimerId>> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first.first <= now;
       ++it) {
    due.push_back(it->first);
  }
  for (const auto& key : due) {
    auto found = timers_.find(key);
    if (found == timers_.end()) continue;  // cancelled by an earlier one
    std::function<void()> callback = std::move(found->second);
    timer_deadlines_.erase(key.second);
    timers_.erase(found);
    callback();
  }
  RunDeferred();
  return Status::Ok();
}

Status EventLoop::RunUntil(const std::function<bool()>& done) {
  while (!done()) {
    if (Status s = RunOnce(-1); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace hl::worker
