//! How large a message a process takes: its transfer limit, announced in the handshake.

use std::sync::OnceLock;

use super::frame::MAX_FRAME_BYTES;

/// The largest message this process takes by default: the host's physical memory (a
/// message that large could not be held anyway), and never less than [`MAX_FRAME_BYTES`].
/// Each side of a connection announces its limit in the handshake; a sender refuses a
/// larger message as an error of that message, naming what it carried.
///
/// ```
/// let limit = rask_scheduler::wire::transfer_limit();
/// assert!(limit >= rask_scheduler::wire::MAX_FRAME_BYTES);
/// ```
pub fn transfer_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| physical_memory().unwrap_or(0).max(MAX_FRAME_BYTES))
}

/// The host's physical memory in bytes (`MemTotal` of `/proc/meminfo`).
pub fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&meminfo)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        assert_eq!(parse_mem_total("MemFree: 1 kB\nMemTotal:       24576000 kB\n"), Some(24576000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
    }
}
