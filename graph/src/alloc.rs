//! A global allocator for processes that move large values: [`LargeBlocks`].
//!
//! Fresh memory is expensive: the kernel finds and zeroes every page on first touch, which
//! costs a worker more than copying the value itself (on a 2-core virtual machine, writing
//! 100 MB into fresh 4 KiB pages takes about 85 ms, into fresh huge pages 25 ms, into pages
//! already touched 14 ms). The system allocator returns every block over 32 MiB to the
//! kernel when it is freed, so a worker that receives, computes and releases 100 MB blocks
//! pays that price on every one. [`LargeBlocks`] keeps large freed blocks for a while and
//! hands them out again, and backs the ones it maps with huge pages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The huge page size blocks are rounded to and aligned on.
const HUGE: usize = 2 << 20;
/// Allocations from this size on are mapped and cached by [`LargeBlocks`].
pub const LARGE: usize = 4 << 20;
/// At most this many freed blocks are kept.
const SLOTS: usize = 32;
/// A block kept this long without being reused goes back to the system at the next trim.
pub const KEEP: Duration = Duration::from_secs(3);

/// A global allocator that serves allocations of [`LARGE`] bytes and more from mapped
/// memory (aligned on huge pages and advised onto them), and keeps such blocks for reuse
/// when they are freed, up to a budget ([`set_budget`], by default a sixteenth of the
/// host's memory) and for about [`KEEP`] ([`trim`]); smaller allocations go to the system
/// allocator. A block reused is already backed by memory, so filling it costs only the
/// copy. `rask-worker` uses it; a program of its own can too:
///
/// ```
/// #[global_allocator]
/// static ALLOCATOR: rask_graph::alloc::LargeBlocks = rask_graph::alloc::LargeBlocks;
///
/// let block = vec![1.5f64; 1 << 20]; // 8 MiB: mapped
/// drop(block);                        // kept
/// assert!(rask_graph::alloc::cached_bytes() >= 8 << 20);
/// let again = vec![0u8; 8 << 20];     // the same memory, zeroed
/// assert!(again.iter().all(|&b| b == 0));
/// rask_graph::alloc::release_all();
/// assert_eq!(rask_graph::alloc::cached_bytes(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LargeBlocks;

/// A freed block: its start and mapped length, and when it was freed (milliseconds of the
/// monotonic clock).
#[derive(Clone, Copy)]
struct Block {
    start: usize,
    len: usize,
    freed_ms: u64,
}

struct Cache {
    blocks: [Option<Block>; SLOTS],
    bytes: usize,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache { blocks: [None; SLOTS], bytes: 0 });
static CACHED: AtomicUsize = AtomicUsize::new(0);
/// The budget in bytes; `usize::MAX` until set or first needed.
static BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The bytes of freed blocks kept for reuse now.
pub fn cached_bytes() -> usize {
    CACHED.load(Ordering::Relaxed)
}

/// Keeps at most `bytes` of freed blocks (releasing any beyond at once). A worker sets a
/// tenth of its memory limit.
pub fn set_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
    evict(|cache, _| cache.bytes > bytes);
}

/// Returns to the system the blocks freed more than `idle` ago. Workers call it every
/// second with [`KEEP`].
pub fn trim(idle: Duration) {
    let now = now_ms();
    let idle = idle.as_millis() as u64;
    evict(|_, block| now.saturating_sub(block.freed_ms) >= idle);
}

/// Returns every kept block to the system (a worker short of memory does).
pub fn release_all() {
    evict(|_, _| true);
}

fn budget() -> usize {
    let budget = BUDGET.load(Ordering::Relaxed);
    if budget != usize::MAX {
        return budget;
    }
    // Reading /proc allocates: only here, never while the cache is locked.
    let default = crate::memory::physical().map_or(1 << 30, |p| (p / 16) as usize);
    BUDGET.store(default, Ordering::Relaxed);
    default
}

/// Unmaps the kept blocks `pick` chooses, oldest first, while it chooses; the unmapping
/// happens after the lock is released.
fn evict(mut pick: impl FnMut(&Cache, &Block) -> bool) {
    let mut victims = [None::<Block>; SLOTS];
    {
        let mut cache = lock();
        let mut order: [usize; SLOTS] = std::array::from_fn(|i| i);
        order.sort_unstable_by_key(|&i| cache.blocks[i].map_or(u64::MAX, |b| b.freed_ms));
        for (victim, i) in victims.iter_mut().zip(order) {
            let Some(block) = cache.blocks[i] else { break };
            if !pick(&cache, &block) {
                continue;
            }
            cache.blocks[i] = None;
            cache.bytes -= block.len;
            *victim = Some(block);
        }
        CACHED.store(cache.bytes, Ordering::Relaxed);
    }
    for block in victims.into_iter().flatten() {
        unmap(block.start, block.len);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes the clock into `t`; the coarse monotonic clock needs no allocation.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Whether a layout is served by mapping.
fn large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= HUGE
}

fn mapped_len(size: usize) -> usize {
    size.next_multiple_of(HUGE)
}

/// Takes the smallest kept block of at least `len` bytes, trimmed to `len`.
fn take_cached(len: usize) -> Option<usize> {
    let block = {
        let mut cache = lock();
        let best = (0..SLOTS)
            .filter(|&i| cache.blocks[i].is_some_and(|b| b.len >= len))
            .min_by_key(|&i| cache.blocks[i].map_or(usize::MAX, |b| b.len))?;
        let block = cache.blocks[best].take()?;
        cache.bytes -= block.len;
        CACHED.store(cache.bytes, Ordering::Relaxed);
        block
    };
    if block.len > len {
        unmap(block.start + len, block.len - len);
    }
    Some(block.start)
}

/// Keeps a freed block, or unmaps it (and the oldest kept ones) beyond the budget.
fn keep(start: usize, len: usize) {
    let budget = budget();
    if len > budget {
        unmap(start, len);
        return;
    }
    let now = now_ms();
    evict(|cache, _| cache.bytes + len > budget || cache.blocks.iter().all(Option::is_some));
    let mut cache = lock();
    if cache.bytes + len > budget {
        drop(cache);
        unmap(start, len);
        return;
    }
    match cache.blocks.iter_mut().find(|b| b.is_none()) {
        Some(slot) => {
            *slot = Some(Block { start, len, freed_ms: now });
            cache.bytes += len;
            CACHED.store(cache.bytes, Ordering::Relaxed);
        }
        None => {
            drop(cache);
            unmap(start, len);
        }
    }
}

/// Maps `len` fresh bytes aligned on a huge page, advised onto huge pages; 0 on failure.
fn map_fresh(len: usize) -> usize {
    let Some(span) = len.checked_add(HUGE) else { return 0 };
    // SAFETY: a new private anonymous mapping; nothing else refers to it.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return 0;
    }
    let raw = raw as usize;
    let start = raw.next_multiple_of(HUGE);
    if start > raw {
        unmap(raw, start - raw);
    }
    let tail = raw + span - (start + len);
    if tail > 0 {
        unmap(start + len, tail);
    }
    // SAFETY: advice on our own mapping; it changes how pages are backed, never contents.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    start
}

fn unmap(start: usize, len: usize) {
    // SAFETY: only ranges of mappings this module made and no longer hands out.
    unsafe { libc::munmap(start as *mut libc::c_void, len) };
}

fn allocate_large(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    take_cached(len).unwrap_or_else(|| map_fresh(len)) as *mut u8
}

// SAFETY: large blocks are whole mappings of at least the size asked, aligned on huge
// pages (so on any alignment up to HUGE), handed out once until freed; whether a block is
// large depends only on its layout, which the caller passes back unchanged on free and
// reallocation, so each block returns to the allocator that made it.
unsafe impl GlobalAlloc for LargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if large(layout.size(), layout.align()) {
            allocate_large(layout.size())
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !large(layout.size(), layout.align()) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc_zeroed(layout) };
        }
        let len = mapped_len(layout.size());
        match take_cached(len) {
            Some(start) => {
                // SAFETY: a block of `len >= size` bytes now ours.
                unsafe { std::ptr::write_bytes(start as *mut u8, 0, layout.size()) };
                start as *mut u8
            }
            // Fresh pages are zero.
            None => map_fresh(len) as *mut u8,
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if large(layout.size(), layout.align()) {
            keep(ptr as usize, mapped_len(layout.size()));
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let was_large = large(layout.size(), layout.align());
        let is_large = large(new_size, layout.align());
        if !was_large && !is_large {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if was_large && is_large {
            let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
            if old_len == new_len {
                return ptr;
            }
            // SAFETY: `ptr` is a whole mapping of `old_len` bytes; the kernel moves or
            // resizes it without copying the pages.
            let moved = unsafe { libc::mremap(ptr.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
            return if moved == libc::MAP_FAILED { std::ptr::null_mut() } else { moved.cast() };
        }
        // One side large, the other not: allocate, copy, free.
        // SAFETY: the new layout is valid (the caller's contract for `new_size`).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (one of the two sizes is at least LARGE, the other the
        // caller's non-zero size).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the allocator directly (the test binary keeps the system allocator).
    fn with_block<R>(size: usize, f: impl FnOnce(*mut u8) -> R) -> R {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let ptr = unsafe { LargeBlocks.alloc(layout) };
        assert!(!ptr.is_null());
        let r = f(ptr);
        unsafe { LargeBlocks.dealloc(ptr, layout) };
        r
    }

    // One test: the cache is process-wide.
    #[test]
    fn large_blocks_are_reused_zeroed_on_request_resized_and_trimmed() {
        release_all();
        set_budget(64 << 20);
        // A large block is aligned on a huge page and writable to its end.
        let first = with_block(10 << 20, |p| {
            assert_eq!(p as usize % HUGE, 0);
            unsafe { std::ptr::write_bytes(p, 7, 10 << 20) };
            p as usize
        });
        assert_eq!(cached_bytes(), mapped_len(10 << 20));
        // A smaller large request reuses it (trimmed); a zeroed one sees zeros.
        let layout = Layout::from_size_align(5 << 20, 8).unwrap();
        let p = unsafe { LargeBlocks.alloc_zeroed(layout) };
        assert_eq!(p as usize, first, "the kept block is reused");
        assert_eq!(cached_bytes(), 0);
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, 5 << 20) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[..4].copy_from_slice(&[1, 2, 3, 4]);
        // Growing keeps the contents; shrinking below LARGE moves to the system allocator.
        let grown = unsafe { LargeBlocks.realloc(p, layout, 20 << 20) };
        assert!(!grown.is_null());
        assert_eq!(unsafe { std::slice::from_raw_parts(grown, 4) }, &[1, 2, 3, 4]);
        unsafe { std::ptr::write_bytes(grown.add(19 << 20), 9, 1 << 20) };
        let big = Layout::from_size_align(20 << 20, 8).unwrap();
        let small = unsafe { LargeBlocks.realloc(grown, big, 1000) };
        assert_eq!(unsafe { std::slice::from_raw_parts(small, 4) }, &[1, 2, 3, 4]);
        assert_eq!(cached_bytes(), mapped_len(20 << 20), "the large block was kept");
        unsafe { LargeBlocks.dealloc(small, Layout::from_size_align(1000, 8).unwrap()) };
        // Beyond the budget, the oldest go first; a block over the budget is not kept.
        with_block(30 << 20, |_| ());
        with_block(40 << 20, |_| ());
        assert_eq!(cached_bytes(), 40 << 20, "the 20 and 30 MiB blocks went");
        with_block(100 << 20, |_| ());
        assert_eq!(cached_bytes(), 40 << 20);
        // Trimming releases what has been idle long enough.
        trim(Duration::from_secs(3600));
        assert_eq!(cached_bytes(), 40 << 20);
        trim(Duration::ZERO);
        assert_eq!(cached_bytes(), 0);
        // Small allocations are the system's.
        with_block(1000, |p| unsafe { std::ptr::write_bytes(p, 1, 1000) });
        assert_eq!(cached_bytes(), 0);
    }
}
