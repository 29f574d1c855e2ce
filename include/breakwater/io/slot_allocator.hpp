#pragma once
// An allocator over a slot that holds memory for one operation at a time: a
// handler bound to it (net::bind_allocator) takes the slot when it fits and is
// free, the heap otherwise. `Slot` provides allocate(bytes) and deallocate(p).
// The slot must outlive every operation that allocates from it.
#include <cstddef>

namespace breakwater::io {

template <class T, class Slot>
struct SlotAllocator {
  using value_type = T;
  Slot* slot;
  explicit SlotAllocator(Slot* s) : slot(s) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U, Slot>& o) : slot(o.slot) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(slot->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) { slot->deallocate(p); }
  template <class U>
  bool operator==(const SlotAllocator<U, Slot>& o) const { return slot == o.slot; }
};

}  // namespace breakwater::io
