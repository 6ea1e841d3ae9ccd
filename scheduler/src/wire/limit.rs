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
    *LIMIT.get_or_init(|| rask_graph::memory::physical().unwrap_or(0).max(MAX_FRAME_BYTES))
}
