//! The worker process; see `rask::worker`.

/// Large blocks (received values, chunks) are kept for reuse a few seconds after they are
/// freed, so a worker fills memory already backed instead of faulting in fresh pages.
#[global_allocator]
static ALLOCATOR: rask::graph::alloc::LargeBlocks = rask::graph::alloc::LargeBlocks;

fn main() {
    rask::worker::main()
}
