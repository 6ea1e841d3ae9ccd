//! The data server: peers (other workers) connect, handshake as [`Role::Peer`] with the
//! shared token, and ask for values with [`PeerRequest::Get`].
//!
//! Handshakes run in an [`Acceptor`](crate::net::Acceptor) (off the accept thread, one
//! deadline each, a cap on those in progress). Each peer connection then has a thread of
//! its own, with a cap on open connections: beyond [`MAX_CONNECTIONS`], the one idle
//! longest is closed (a peer whose cached connection was closed reconnects). A
//! connection that sends a bad frame is logged and closed; the server and the other
//! connections go on. Values are answered within the asking peer's transfer limit
//! ([`answer`](super::answer)). A peer on this host asking with
//! [`PeerRequest::GetMapped`] is answered [`MappedFrame`](crate::wire::MappedFrame)s for large values: it copies them
//! from this process's memory itself, which keeps them until released.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::Shared;
use super::answer::answer;
use crate::net::Accepted;
use crate::wire::{Connection, Lease, PeerReply, PeerRequest, Role, WireError, read_message_uninit, write_message};

/// Frames at least this large go to a peer on this host as [`MappedFrame`](crate::wire::MappedFrame)s; smaller
/// ones cost less streamed than the round trip of their lease.
const MAPPED_AT_LEAST: u64 = 1 << 20;
/// Peer connections open at most.
pub(super) const MAX_CONNECTIONS: usize = 256;
/// How often the server looks at the stop flag while no peer connects.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The open peer connections and when each was last used, to close them when the worker
/// stops or when too many are open.
#[derive(Debug, Default)]
pub(super) struct OpenConnections {
    conns: Mutex<HashMap<u64, (Connection, Instant)>>,
}

impl OpenConnections {
    /// Tracks a new connection, closing the one idle longest if `max` are open.
    fn admit(&self, id: u64, conn: &Connection, max: usize) -> Result<(), WireError> {
        let handle = conn.try_clone()?;
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        while conns.len() >= max.max(1) {
            let Some(idlest) = conns.iter().min_by_key(|(_, (_, used))| *used).map(|(id, _)| *id) else { break };
            if let Some((conn, _)) = conns.remove(&idlest) {
                tracing::debug!(peer = conn.peer(), "data server: too many connections; closed the idlest");
                conn.shutdown();
            }
        }
        conns.insert(id, (handle, Instant::now()));
        Ok(())
    }

    fn touch(&self, id: u64) {
        if let Some((_, used)) = self.conns.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
            *used = Instant::now();
        }
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Closes every open connection (their threads wake with an error and end).
    pub(super) fn shutdown_all(&self) {
        for (conn, _) in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c) {
            conn.shutdown();
        }
    }
}

/// Serves the peers whose handshakes `accepted` delivers; returns when the worker stops.
pub(super) fn run(accepted: Receiver<Accepted>, shared: &Arc<Shared>) {
    loop {
        let Accepted { conn, hello, id } = match accepted.recv_timeout(STOP_POLL) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) if !shared.stop.load(Ordering::SeqCst) => continue,
            Err(_) => return,
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if hello.role != Role::Peer {
            tracing::warn!(peer = conn.peer(), role = ?hello.role, "data server: only peers may connect; closed");
            conn.shutdown();
            continue;
        }
        if let Err(e) = shared.open.admit(id, &conn, MAX_CONNECTIONS) {
            tracing::warn!(error = %e, "data server: cannot track a peer connection; closed");
            conn.shutdown();
            continue;
        }
        let shared_for_peer = shared.clone();
        let spawned = std::thread::Builder::new().name(format!("rask-peer-{id}")).spawn(move || {
            serve_peer(conn, id, hello.limit, &shared_for_peer);
            shared_for_peer.open.remove(id);
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "data server: cannot start a thread for a peer");
            shared.open.remove(id);
        }
    }
}

fn serve_peer(mut conn: Connection, id: u64, limit: u64, shared: &Shared) {
    let peer = conn.peer().to_string();
    let local = conn.is_local();
    // Frames a peer on this host copies from our memory, kept until it says it is done
    // (or the connection ends).
    let mut leases: HashMap<u64, Lease> = HashMap::new();
    let mut next_lease = 0u64;
    loop {
        let request: PeerRequest = match read_message_uninit(&mut conn, shared.transfer_limit) {
            Ok(request) => request,
            Err(WireError::Closed) => return,
            Err(e) => {
                if !shared.stop.load(Ordering::SeqCst) {
                    tracing::debug!(%peer, error = %e, "data server: connection closed");
                }
                return;
            }
        };
        shared.open.touch(id);
        let (keys, mapped) = match request {
            PeerRequest::Get(keys) => (keys, false),
            PeerRequest::GetMapped(keys) => (keys, local),
            PeerRequest::Release(lease) => {
                leases.remove(&lease);
                continue;
            }
        };
        for frame in answer(&shared.store, keys, limit, PeerReply::Values) {
            let sent = if mapped && frame.len() >= MAPPED_AT_LEAST {
                next_lease += 1;
                let lease = Lease::new(frame);
                let reply = PeerReply::Mapped(lease.mapped(next_lease));
                leases.insert(next_lease, lease);
                write_message(&mut conn, &reply)
            } else {
                frame.write_to(&mut conn)
            };
            if let Err(e) = sent {
                tracing::warn!(%peer, error = %e, "data server: cannot answer a peer; connection closed");
                return;
            }
        }
        shared.open.touch(id);
    }
}
