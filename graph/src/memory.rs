//! What the host's memory allows: the physical memory and what is available now, read
//! from `/proc/meminfo`. Used to refuse work that could not fit (a task graph of too many
//! tasks, a message too large to receive) with an error instead of an abort.

/// The host's physical memory in bytes (`MemTotal`), if it can be read.
///
/// ```
/// if let Some(total) = rask_graph::memory::physical() {
///     assert!(total >= rask_graph::memory::available().unwrap_or(0));
/// }
/// ```
pub fn physical() -> Option<u64> {
    meminfo_field("MemTotal:")
}

/// The memory available for new allocations now, in bytes (`MemAvailable`: free memory
/// plus caches the kernel can drop), if it can be read.
pub fn available() -> Option<u64> {
    meminfo_field("MemAvailable:")
}

fn meminfo_field(name: &str) -> Option<u64> {
    parse_field(&std::fs::read_to_string("/proc/meminfo").ok()?, name)
}

fn parse_field(meminfo: &str, name: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Asks the kernel to back `len` bytes at `ptr` (memory not touched yet) with huge pages
/// where it can (`MADV_HUGEPAGE`; the system's transparent huge pages in `madvise`
/// mode). Faulting in fresh memory a 4 KiB page at a time dominates receiving a large
/// value (about 100 ms per 100 MB on a virtual machine, 20 ms with huge pages). Regions
/// under 4 MiB are left alone; a refusal changes nothing.
pub fn advise_huge_pages(ptr: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < 2 * HUGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end > start {
        // SAFETY: advice on whole huge pages inside an allocation of ours; it changes how
        // pages are backed, never their contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// `bytes` for a message: `21.6 GB`, `512 kB`.
///
/// ```
/// assert_eq!(rask_graph::memory::human(21_600_000_000), "21.6 GB");
/// assert_eq!(rask_graph::memory::human(999), "999 B");
/// ```
pub fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", units[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_in_bytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree: 1 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_field(meminfo, "MemTotal:"), Some(24576000 * 1024));
        assert_eq!(parse_field(meminfo, "MemAvailable:"), Some(2048 * 1024));
        assert_eq!(parse_field("MemFree: 1 kB\n", "MemTotal:"), None);
        assert_eq!(parse_field("MemTotal: lots kB\n", "MemTotal:"), None);
    }
}
