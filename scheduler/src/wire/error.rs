//! Errors of the wire protocol.

/// Why a connection failed or a frame was refused. Every variant closes only the
/// connection it happened on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The socket failed (refused, reset, closed).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and with whom.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The peer closed the connection between frames.
    #[error("connection closed by peer")]
    Closed,
    /// A frame announced more bytes than the limit allows.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// Announced length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame announced.
        expected: u64,
        /// Bytes received before the end.
        got: u64,
    },
    /// A frame's bytes do not decode as the expected message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A message could not be encoded (an op or value that cannot leave its process).
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The handshake failed: wrong magic, version or token, or a refusal by the peer.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// An address that is not `tcp://host:port`, `tls://host:port` or `unix:///path`.
    #[error("invalid address {0:?}: expected tcp://host:port, tls://host:port or unix:///path")]
    InvalidAddress(String),
    /// TLS could not be set up: a certificate or key file that does not load, or a
    /// handshake the other side refused.
    #[error("TLS: {0}")]
    Tls(String),
}

impl WireError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> WireError {
        WireError::Io { context: context.into(), source }
    }
}
