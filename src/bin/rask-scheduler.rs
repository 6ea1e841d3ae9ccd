//! The distributed scheduler process; see `rask::scheduler_cli`.

fn main() {
    rask::scheduler_cli::main()
}
