//! The data server: peers (other workers) connect, handshake as [`Role::Peer`] with the
//! shared token, and ask for values with [`PeerRequest::Get`]; each connection has a
//! thread of its own. A connection that fails the handshake or sends a bad frame is
//! logged and closed; the server and the other connections go on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::wire::{
    Connection, Listener, MAX_FRAME_BYTES, PeerReply, PeerRequest, Role, WireError, accept_handshake, read_message,
    write_message,
};

/// Handles on the open peer connections, to close them when the worker stops.
#[derive(Debug, Default)]
pub(super) struct OpenConnections {
    conns: Mutex<HashMap<u64, Connection>>,
}

impl OpenConnections {
    fn add(&self, id: u64, conn: &Connection) {
        if let Ok(handle) = conn.try_clone() {
            self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, handle);
        }
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Closes every open connection (their threads wake with an error and end).
    pub(super) fn shutdown_all(&self) {
        for conn in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c) {
            conn.shutdown();
        }
    }
}

/// The accept loop; returns when the worker stops.
pub(super) fn run(listener: Listener, shared: &std::sync::Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let conn = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "data server: accept failed");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        shared.open.add(id, &conn);
        let shared_for_peer = shared.clone();
        let spawned = std::thread::Builder::new().name(format!("rask-peer-{id}")).spawn(move || {
            serve_peer(conn, id, &shared_for_peer);
            shared_for_peer.open.remove(id);
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "data server: cannot start a thread for a peer");
            shared.open.remove(id);
        }
    }
}

fn serve_peer(mut conn: Connection, id: u64, shared: &Shared) {
    let peer = conn.peer().to_string();
    match accept_handshake(&mut conn, &shared.token, id) {
        Ok(hello) if hello.role == Role::Peer => {}
        Ok(hello) => {
            tracing::warn!(%peer, role = ?hello.role, "data server: only peers may connect; closed");
            return;
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "data server: handshake failed; connection closed");
            return;
        }
    }
    loop {
        let request: PeerRequest = match read_message(&mut conn, MAX_FRAME_BYTES) {
            Ok(request) => request,
            Err(WireError::Closed) => return,
            Err(e) => {
                if !shared.stop.load(Ordering::SeqCst) {
                    tracing::warn!(%peer, error = %e, "data server: bad request; connection closed");
                }
                return;
            }
        };
        let PeerRequest::Get(keys) = request;
        let values = keys.into_iter().map(|k| (k, shared.store.get(&k))).collect();
        if let Err(e) = write_message(&mut conn, &PeerReply::Values(values)) {
            tracing::warn!(%peer, error = %e, "data server: cannot answer a peer; connection closed");
            return;
        }
    }
}
