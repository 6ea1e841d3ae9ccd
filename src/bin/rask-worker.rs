//! The worker process; see `rask::worker`.

fn main() {
    rask::worker::main()
}
