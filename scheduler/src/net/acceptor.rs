//! Accepting connections without letting any caller stall the listener: see [`Acceptor`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};

use crate::wire::{Connection, Hello, Listener, Welcome, WireError, accept_handshake_within};

/// Stack of a handshake thread: it reads one small frame.
const STACK: usize = 128 << 10;
/// Refusals logged one by one before only every thousandth is.
const LOGGED_REFUSALS: u64 = 10;

/// How an [`Acceptor`] treats callers.
#[derive(Debug, Clone)]
pub(crate) struct AcceptConfig {
    /// The shared secret callers must present.
    pub token: String,
    /// The largest message this side takes, announced in the welcome.
    pub limit: u64,
    /// Handshakes in progress at most; a new connection beyond it drops the oldest.
    pub max_pending: usize,
    /// How long one handshake may take in all.
    pub timeout: Duration,
    /// What is listening, for messages ("process pool", "data server").
    pub name: &'static str,
}

/// A connection whose handshake succeeded.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub conn: Connection,
    pub hello: Hello,
    /// The id the welcome gave it.
    pub id: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// Handshakes in progress, oldest first, with a handle to close each.
    pending: Mutex<VecDeque<(u64, Connection)>>,
    refused: AtomicU64,
}

impl Shared {
    fn admit(&self, id: u64, conn: &Connection, max: usize) -> Result<(), WireError> {
        let handle = conn.try_clone()?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while pending.len() >= max.max(1) {
            if let Some((_, oldest)) = pending.pop_front() {
                oldest.shutdown();
            }
        }
        pending.push_back((id, handle));
        Ok(())
    }

    /// Forgets a finished handshake; false if it was dropped meanwhile.
    fn finish(&self, id: u64) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.iter().position(|(i, _)| *i == id) {
            Some(at) => {
                pending.remove(at);
                true
            }
            None => false,
        }
    }

    fn close_all(&self) {
        for (_, conn) in self.pending.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            conn.shutdown();
        }
    }
}

/// A listener whose handshakes run off its accept thread; see the [module docs](super).
/// Completed handshakes go to the channel given to [`Acceptor::start`]; if the owner lets
/// it fill up, further callers are closed rather than queued. Dropping the acceptor stops
/// accepting and closes the handshakes in progress.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    /// Accepts on `listener` from now on, handing completed handshakes to `deliver`.
    pub fn start(listener: Listener, config: AcceptConfig, deliver: Sender<Accepted>) -> Result<Acceptor, WireError> {
        Acceptor::start_with(listener, config, deliver, |a| a)
    }

    /// [`Acceptor::start`] handing `wrap(accepted)` to a channel of the owner's own type.
    pub fn start_with<T: Send + 'static>(
        listener: Listener,
        config: AcceptConfig,
        deliver: Sender<T>,
        wrap: fn(Accepted) -> T,
    ) -> Result<Acceptor, WireError> {
        let listener = Arc::new(listener);
        let shared = Arc::new(Shared::default());
        let thread = {
            let (listener, shared) = (listener.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("rask-accept-{}", config.name.replace(' ', "-")))
                .spawn(move || accept_loop(&listener, &config, &shared, &deliver, wrap))
                .map_err(|e| WireError::io("cannot start the accept thread", e))?
        };
        Ok(Acceptor { listener, shared, thread: Some(thread) })
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the thread blocked in accept(); the listener stays open until both are gone.
        self.listener.interrupt();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.close_all();
    }
}

fn accept_loop<T: Send + 'static>(
    listener: &Listener,
    config: &AcceptConfig,
    shared: &Arc<Shared>,
    deliver: &Sender<T>,
    wrap: fn(Accepted) -> T,
) {
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let conn = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be closed.
                tracing::warn!(listener = config.name, error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        if let Err(e) = shared.admit(id, &conn, config.max_pending) {
            tracing::warn!(listener = config.name, error = %e, "cannot track a new connection; closed");
            continue;
        }
        let (config_for, shared_for, deliver_for) = (config.clone(), shared.clone(), deliver.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("rask-handshake-{id}"))
            .stack_size(STACK)
            .spawn(move || handshake(conn, id, &config_for, &shared_for, &deliver_for, wrap));
        if let Err(e) = spawned {
            tracing::warn!(listener = config.name, error = %e, "cannot start a handshake thread; connection closed");
            shared.finish(id);
        }
    }
}

fn handshake<T>(
    mut conn: Connection,
    id: u64,
    config: &AcceptConfig,
    shared: &Shared,
    deliver: &Sender<T>,
    wrap: fn(Accepted) -> T,
) {
    let welcome = Welcome { id, limit: config.limit };
    let result = accept_handshake_within(&mut conn, &config.token, welcome, config.timeout);
    let kept = shared.finish(id);
    match result {
        Ok(hello) if kept && !shared.stop.load(Ordering::SeqCst) => {
            let handle = conn.try_clone();
            match deliver.try_send(wrap(Accepted { conn, hello, id })) {
                Ok(()) => {}
                Err(e) => {
                    if matches!(e, TrySendError::Full(_)) {
                        tracing::warn!(
                            listener = config.name,
                            "too many connections waiting to be taken up; closed one"
                        );
                    }
                    if let Ok(handle) = handle {
                        handle.shutdown();
                    }
                }
            }
        }
        Ok(_) => conn.shutdown(),
        Err(e) => {
            let refused = shared.refused.fetch_add(1, Ordering::Relaxed) + 1;
            if refused <= LOGGED_REFUSALS || refused.is_multiple_of(1000) {
                tracing::warn!(listener = config.name, refused, error = %e, "refused a connection");
            } else {
                tracing::debug!(listener = config.name, refused, error = %e, "refused a connection");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::wire::{Role, connect_handshake};

    fn start(max_pending: usize) -> (Acceptor, crossbeam_channel::Receiver<Accepted>) {
        let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(4);
        let config = AcceptConfig {
            token: "t".into(),
            limit: 1 << 20,
            max_pending,
            timeout: Duration::from_secs(2),
            name: "test",
        };
        (Acceptor::start(listener, config, tx).unwrap(), rx)
    }

    fn handshake(acceptor: &Acceptor, token: &str) -> Result<crate::wire::Welcome, WireError> {
        let mut conn = Connection::connect(acceptor.listener.address())?;
        connect_handshake(&mut conn, &Hello::new(token, Role::Peer))
    }

    #[test]
    fn refused_callers_are_counted_never_queued() {
        let (acceptor, accepted) = start(8);
        for _ in 0..300 {
            assert!(handshake(&acceptor, "wrong").is_err());
        }
        // A caller reads its refusal a moment before the handshake thread counts it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while acceptor.shared.refused.load(Ordering::Relaxed) < 300 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(acceptor.shared.refused.load(Ordering::Relaxed), 300);
        assert!(accepted.is_empty(), "no refusal reaches the owner");
        assert!(acceptor.shared.pending.lock().unwrap().is_empty(), "nothing is kept of them");
        let welcome = handshake(&acceptor, "t").unwrap();
        assert_eq!(welcome.limit, 1 << 20);
        let a = accepted.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((a.id, a.hello.role), (welcome.id, Role::Peer));
    }

    #[test]
    fn a_flood_of_silent_callers_does_not_lock_out_a_real_one() {
        let (acceptor, accepted) = start(8);
        let silent: Vec<Connection> =
            (0..50).map(|_| Connection::connect(acceptor.listener.address()).unwrap()).collect();
        let started = Instant::now();
        handshake(&acceptor, "t").unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "welcomed in {:?}", started.elapsed());
        assert!(accepted.recv_timeout(Duration::from_secs(1)).is_ok());
        assert!(acceptor.shared.pending.lock().unwrap().len() <= 8, "at most the cap waits");
        let dropped = Instant::now();
        drop(acceptor);
        assert!(dropped.elapsed() < Duration::from_secs(1), "stopping is prompt with callers pending");
        drop(silent);
    }
}
