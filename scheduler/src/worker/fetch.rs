//! Fetching `Remote` inputs from other workers' data servers.
//!
//! [`FETCHERS`] threads take fetch jobs; each takes every job queued at that moment and
//! sends one `Get` per peer for all the keys wanted from it. Connections are kept per
//! peer and reused. A peer that cannot be reached (after one retry on a fresh connection,
//! in case a cached one went stale) or that answers `Missing` makes the tasks waiting for
//! those keys `Missing`; the scheduler recomputes and resubmits them. A value the peer
//! refuses to send (larger than this worker's transfer limit) fails the tasks waiting
//! for it: asking again would get the same answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::Receiver;
use rask_graph::Key;

use super::Shared;
use crate::wire::{
    Address, Connection, Hello, Lookup, PeerReply, PeerRequest, Role, WireError, connect_handshake, mapped_reads_work,
    read_message_uninit, write_message,
};

/// Fetcher threads per worker: one slow peer does not hold up fetches from the others.
pub(super) const FETCHERS: usize = 2;
/// How long a peer may send nothing while it answers before it counts as gone (a peer
/// whose link is down sends nothing, and a live one sends its bytes as they go).
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Work for a fetcher thread.
#[derive(Debug)]
pub(super) enum FetchJob {
    /// Fetch `key` from the data server at `from`.
    Get {
        /// The value's key.
        key: Key,
        /// The holder's data address.
        from: Address,
    },
    /// Exit (each fetcher passes it on to the next).
    Stop,
}

/// Idle connections to peers' data servers, by address.
#[derive(Debug, Default)]
pub(super) struct Peers {
    idle: Mutex<HashMap<Address, Vec<Connection>>>,
}

impl Peers {
    fn take(&self, peer: &Address) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).get_mut(peer)?.pop()
    }

    fn put(&self, peer: Address, conn: Connection) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).entry(peer).or_default().push(conn);
    }

    /// Closes every idle connection.
    pub(super) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A fetcher thread's loop; returns on [`FetchJob::Stop`].
pub(super) fn run(jobs: Receiver<FetchJob>, shared: &Shared) {
    while let Ok(job) = jobs.recv() {
        let mut wanted: HashMap<Address, Vec<Key>> = HashMap::new();
        let mut stop = false;
        for job in std::iter::once(job).chain(jobs.try_iter()) {
            match job {
                FetchJob::Get { key, from } => wanted.entry(from).or_default().push(key),
                FetchJob::Stop => stop = true,
            }
        }
        for (peer, keys) in wanted {
            if stop {
                break;
            }
            fetch_from(shared, &peer, keys);
        }
        if stop {
            // Pass the word on: another fetcher may be waiting for a job.
            let _ = shared.fetches.send(FetchJob::Stop);
            return;
        }
    }
}

fn fetch_from(shared: &Shared, peer: &Address, keys: Vec<Key>) {
    let mut answers = match get(shared, peer, &keys) {
        Ok(answers) => answers,
        Err(e) => {
            tracing::warn!(%peer, error = %e, keys = keys.len(), "cannot fetch from a peer");
            HashMap::new()
        }
    };
    for key in keys {
        let mut tasks = shared.lock_tasks();
        let effects = match answers.remove(&key) {
            Some(Lookup::Found(value)) => {
                let ready = tasks.fetched(&key, &value);
                shared.after_transition(&tasks, ready);
                continue;
            }
            Some(Lookup::Refused(why)) => tasks.fetch_refused(&key, &why),
            Some(Lookup::Missing) | None => tasks.fetch_failed(&key),
        };
        shared.after_transition(&tasks, 0);
        drop(tasks);
        shared.apply(effects);
    }
}

/// What `peer` answers for `keys`.
fn get(shared: &Shared, peer: &Address, keys: &[Key]) -> Result<HashMap<Key, Lookup>, WireError> {
    if let Some(conn) = shared.peers.take(peer) {
        match request(conn, keys, shared.transfer_limit) {
            Ok((conn, values)) => {
                shared.peers.put(peer.clone(), conn);
                return Ok(values);
            }
            Err(e) => tracing::debug!(%peer, error = %e, "cached peer connection failed; reconnecting"),
        }
    }
    let mut conn = Connection::connect(peer)?;
    let hello = Hello { token: shared.token.clone(), role: Role::Peer, limit: shared.transfer_limit };
    connect_handshake(&mut conn, &hello)?;
    conn.set_read_timeout(Some(PEER_TIMEOUT))?;
    let (conn, values) = request(conn, keys, shared.transfer_limit)?;
    shared.peers.put(peer.clone(), conn);
    Ok(values)
}

/// Asks for `keys` and reads the answers, which may come in several messages, until
/// every key is answered. A peer on this host is asked for mapped answers (large values
/// copied from its memory), unless those failed before in this process.
fn request(mut conn: Connection, keys: &[Key], limit: u64) -> Result<(Connection, HashMap<Key, Lookup>), WireError> {
    let mapped = conn.is_local() && mapped_reads_allowed();
    let ask = if mapped { PeerRequest::GetMapped(keys.to_vec()) } else { PeerRequest::Get(keys.to_vec()) };
    write_message(&mut conn, &ask)?;
    let mut answers = HashMap::with_capacity(keys.len());
    while answers.len() < keys.len() {
        let values = match read_message_uninit(&mut conn, limit)? {
            PeerReply::Values(values) => values,
            PeerReply::Mapped(frame) => {
                let read = frame
                    .reader()
                    .map_err(|e| WireError::io("cannot copy from a peer's memory", e))
                    .and_then(|mut reader| read_message_uninit::<_, PeerReply>(&mut reader, limit));
                write_message(&mut conn, &PeerRequest::Release(frame.lease))?;
                match read {
                    Ok(PeerReply::Values(values)) => values,
                    Ok(_) => return Err(WireError::Malformed("a mapped answer held no values".into())),
                    Err(e) => {
                        tracing::warn!(error = %e, "copying from a peer's memory failed; streaming from now on");
                        MAPPED_FAILED.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        };
        if values.is_empty() {
            return Err(WireError::Malformed("a peer answered with no values".into()));
        }
        answers.extend(values);
    }
    Ok((conn, answers))
}

/// Set once copying from a peer's memory failed: this process streams from then on.
static MAPPED_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether to ask peers on this host for mapped answers.
fn mapped_reads_allowed() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    !MAPPED_FAILED.load(Ordering::Relaxed) && *WORKS.get_or_init(mapped_reads_work)
}
