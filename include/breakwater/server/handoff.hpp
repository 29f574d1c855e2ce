#pragma once
// What moves a connection from the acceptor thread to its worker without leaving
// heap debris behind: an intrusive session list and a one-slot allocator for the wake-up.
#include <atomic>
#include <cstddef>
#include <memory>

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

// Memory for the one hand-over wake-up a worker can have queued (see Server::hand_over).
struct HandoffSlot {
  alignas(std::max_align_t) unsigned char bytes[256];
  std::atomic<bool> used{false};
};

template <class T>
struct HandoffAllocator {
  using value_type = T;
  HandoffSlot* slot;
  explicit HandoffAllocator(HandoffSlot* s) : slot(s) {}
  template <class U>
  HandoffAllocator(const HandoffAllocator<U>& o) : slot(o.slot) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    if (n * sizeof(T) <= sizeof(slot->bytes) && !slot->used.exchange(true)) return reinterpret_cast<T*>(slot->bytes);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) {
    if (reinterpret_cast<unsigned char*>(p) == slot->bytes)
      slot->used.store(false);
    else
      std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const HandoffAllocator<U>& o) const { return slot == o.slot; }
};

}  // namespace breakwater::server
