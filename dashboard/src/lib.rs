//! rask's web dashboard: live progress of computations in the browser, as Dask's.
//!
//! [`serve`] starts it in this process: a thread folds the scheduler event bus
//! (`rask_scheduler::events`) into an [`Aggregate`] and publishes a [`Snapshot`] of it
//! at most twice a second; an axum app on a runtime thread of its own serves the pages
//! and the JSON API from the latest snapshot (see `server.rs` for the routes). A page view
//! never touches a scheduler: a million-task run costs the same with the page open, but
//! for the events themselves (a push per task on the worker thread's buffer).
//!
//! `rask-scheduler` serves it on `--dashboard-address` (127.0.0.1:8787 by default); a
//! local run serves it when asked, with `rask::dashboard::serve(addr)` or
//! `RASK_DASHBOARD=127.0.0.1:8787`.
//!
//! ```
//! use rask_dashboard::{serve, DashboardOptions};
//! let dashboard = serve(DashboardOptions::loopback(0)).unwrap();   // a free port
//! let address = dashboard.address();
//! assert!(address.ip().is_loopback());
//! drop(dashboard);                                                  // stops it
//! ```

mod aggregate;
mod metrics;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use aggregate::{
    Aggregate, FAILURES, Failure, GroupProgress, MAX_GROUPS, STREAM, Snapshot, StreamTask, Totals, WorkerView,
};
pub use metrics::render_metrics;
pub use server::UPDATES_PER_SECOND;
use tokio::sync::watch;

/// Where and how to serve the dashboard.
///
/// ```
/// let options = rask_dashboard::DashboardOptions::loopback(8787);
/// assert_eq!(options.address.to_string(), "127.0.0.1:8787");
/// assert!(options.token.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// The address to listen on (port 0: a free one).
    pub address: SocketAddr,
    /// The token a browser must present, off loopback (required there).
    pub token: Option<String>,
}

impl DashboardOptions {
    /// Loopback, on `port`, without a token.
    pub fn loopback(port: u16) -> DashboardOptions {
        DashboardOptions { address: SocketAddr::from(([127, 0, 0, 1], port)), token: None }
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address could not be bound.
    #[error("cannot serve the dashboard on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The address is not `host:port`.
    #[error("the dashboard's address {address:?} is not host:port: {reason}")]
    Address {
        /// The text given.
        address: String,
        /// Why it does not parse.
        reason: String,
    },
    /// An address off loopback was asked for without a token.
    #[error("the dashboard on {0} is off loopback: give it a token (a cluster's token, or RASK_TOKEN)")]
    NeedsToken(SocketAddr),
    /// A thread or the runtime could not start.
    #[error("cannot start the dashboard: {0}")]
    Start(std::io::Error),
}

/// A running dashboard; dropping it stops it (its threads end, its port closes).
#[derive(Debug)]
pub struct Dashboard {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Dashboard {
    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The status page's address, as a browser opens it.
    pub fn url(&self) -> String {
        format!("http://{}/status", self.address)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// How often the folding thread publishes a snapshot, at most.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(1000 / UPDATES_PER_SECOND as u64);

/// Starts the dashboard on `options.address`: subscribes to the event bus and serves the
/// pages. An error if the address cannot be bound, or is off loopback without a token.
pub fn serve(options: DashboardOptions) -> Result<Dashboard, DashboardError> {
    if !options.address.ip().is_loopback() && options.token.as_deref().is_none_or(str::is_empty) {
        return Err(DashboardError::NeedsToken(options.address));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DashboardError::Start)?;
    let (listener, address) = server::bind(&runtime, options.address)
        .map_err(|source| DashboardError::Bind { address: options.address, source })?;
    let (publish, snapshots) = watch::channel(Arc::new(Snapshot::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let folder = {
        let stop = stop.clone();
        // Subscribed before this returns: no event of a run started after it is missed.
        let subscription = rask_scheduler::events::bus().subscribe();
        std::thread::Builder::new()
            .name("rask-dashboard-events".into())
            .spawn(move || fold_events(&subscription, &publish, &stop))
            .map_err(DashboardError::Start)?
    };
    let token = (!options.address.ip().is_loopback()).then(|| options.token.clone()).flatten().map(Arc::from);
    let app = server::router(server::AppState { snapshots, token });
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let web = std::thread::Builder::new()
        .name("rask-dashboard-web".into())
        .spawn(move || {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = runtime.block_on(async move { serving.await }) {
                tracing::warn!(error = %e, "the dashboard stopped serving");
            }
        })
        .map_err(DashboardError::Start)?;
    Ok(Dashboard { address, stop, shutdown: Some(shutdown), threads: vec![folder, web] })
}

/// Folds event batches into the aggregate and publishes a snapshot when something
/// changed, at most every [`SNAPSHOT_EVERY`] (and every so often regardless, for the
/// workers' CPU and the elapsed time).
fn fold_events(
    subscription: &rask_scheduler::events::Subscription,
    publish: &watch::Sender<Arc<Snapshot>>,
    stop: &AtomicBool,
) {
    let mut aggregate = Aggregate::default();
    let mut last = Instant::now();
    let mut changed = true;
    while !stop.load(Ordering::SeqCst) {
        let wait = SNAPSHOT_EVERY.saturating_sub(last.elapsed());
        match subscription.receiver().recv_timeout(wait) {
            Ok(batch) => {
                aggregate.apply(&batch);
                changed = true;
                // Take what else is waiting before looking at the clock.
                while let Ok(batch) = subscription.receiver().try_recv() {
                    aggregate.apply(&batch);
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if last.elapsed() >= SNAPSHOT_EVERY {
            if changed || aggregate_is_live(publish) {
                publish.send_replace(Arc::new(aggregate.snapshot()));
            }
            changed = false;
            last = Instant::now();
        }
    }
}

/// Whether the last snapshot shows work going on (its clock and CPU figures move, and
/// a busy CPU must be seen falling back to idle).
fn aggregate_is_live(publish: &watch::Sender<Arc<Snapshot>>) -> bool {
    let last = publish.borrow();
    last.running > 0 || last.workers.iter().any(|w| w.cpu > 0.0)
}

/// The environment variable that starts the dashboard on the first compute of a process,
/// at this address (`RASK_DASHBOARD=127.0.0.1:8787`).
pub const ENV_VAR: &str = "RASK_DASHBOARD";

/// Serves the dashboard on `address` (`host:port`; off loopback with `RASK_TOKEN` as the
/// token) until the returned handle is dropped.
///
/// ```
/// assert!(rask_dashboard::serve_at("not an address").is_err());
/// ```
pub fn serve_at(address: &str) -> Result<Dashboard, DashboardError> {
    let parsed = address.parse().map_err(|e: std::net::AddrParseError| DashboardError::Address {
        address: address.to_string(),
        reason: e.to_string(),
    })?;
    serve(DashboardOptions { address: parsed, token: std::env::var("RASK_TOKEN").ok() })
}

/// Starts the dashboard [`ENV_VAR`] names, once per process, and keeps it for the life of
/// the process; without the variable it does nothing, and a bad address or a port taken
/// is logged, not fatal. Every compute calls it.
pub fn serve_from_env() {
    static STARTED: std::sync::OnceLock<Option<Dashboard>> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| {
        let address = std::env::var(ENV_VAR).ok().filter(|a| !a.is_empty())?;
        match serve_at(&address) {
            Ok(dashboard) => {
                eprintln!("rask dashboard at {}", dashboard.url());
                Some(dashboard)
            }
            Err(e) => {
                tracing::warn!(error = %e, "{ENV_VAR}: no dashboard");
                None
            }
        }
    });
}
