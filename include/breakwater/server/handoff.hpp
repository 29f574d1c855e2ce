#pragma once
// What moves a connection from the acceptor thread to its worker without leaving
// heap debris behind: an intrusive session list and a one-slot allocator for the wake-up.
#include <atomic>
#include <cstddef>
#include <memory>

#include "breakwater/io/slot_allocator.hpp"

namespace breakwater::server {

// Links a session into its worker's list without allocating (a crowd of connections
// leaves no grown container behind).
struct SessionHook {
  SessionHook* prev = this;
  SessionHook* next = this;
  void link_after(SessionHook& head) {
    prev = &head;
    next = head.next;
    head.next->prev = this;
    head.next = this;
  }
  void unlink() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
};

// Memory for the one hand-over wake-up a worker can have queued (see Server::hand_over):
// taken on the acceptor thread, given back on the worker's.
struct HandoffSlot {
  alignas(std::max_align_t) unsigned char bytes[256];
  std::atomic<bool> used{false};
  void* allocate(std::size_t n) {
    if (n <= sizeof bytes && !used.exchange(true)) return bytes;
    return ::operator new(n);
  }
  void deallocate(void* p) {
    if (p == bytes)
      used.store(false);
    else
      ::operator delete(p);
  }
};

template <class T>
using HandoffAllocator = io::SlotAllocator<T, HandoffSlot>;

}  // namespace breakwater::server
