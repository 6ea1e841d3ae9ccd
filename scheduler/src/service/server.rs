//! The distributed scheduler: the service behind a TCP (or Unix) listener that any worker
//! and client holding the token may join. The `rask-scheduler` binary is [`Server`] behind
//! a command line (`rask::scheduler_cli::main()`).

use std::path::PathBuf;
use std::time::Duration;

use super::{Service, ServiceConfig};
use crate::client::SchedulerFile;
use crate::error::SchedulerError;
use crate::wire::{Address, Listener};

/// How a [`Server`] runs; [`ServerConfig::new`] fills in the defaults.
///
/// ```
/// use rask_scheduler::ServerConfig;
/// let config = ServerConfig::new("tcp://127.0.0.1:8786".parse()?);
/// assert_eq!(config.worker_ttl, std::time::Duration::from_secs(300));
/// assert!(config.token.is_none());
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0: a free one).
    pub address: Address,
    /// The shared secret every worker and client must present (`None`: any caller that
    /// reaches the listener is taken, which only a loopback or `tls://` address allows:
    /// there the cluster's CA vouches for every caller).
    pub token: Option<String>,
    /// Where to write the scheduler file (`None`: no file).
    pub scheduler_file: Option<PathBuf>,
    /// A worker silent this long is taken for hung (Dask's `worker-ttl`, 5 minutes).
    pub worker_ttl: Duration,
    /// The largest message taken from a worker or client.
    pub transfer_limit: u64,
    /// Certificates for `tls://` addresses, loaded when the server starts (`None`: those
    /// [`configure_tls`](crate::wire::configure_tls) set, else `RASK_TLS_*`).
    pub tls: Option<crate::wire::TlsFiles>,
    /// How long the keys a disconnected client wanted are kept wanted (30 s), so that a
    /// network blip does not lose its work.
    pub client_grace: Duration,
    /// The address of the dashboard served beside it, written to the scheduler file.
    pub dashboard: Option<String>,
}

impl ServerConfig {
    /// A server at `address`, no token, no scheduler file, Dask's ttl, this host's
    /// transfer limit.
    pub fn new(address: Address) -> ServerConfig {
        ServerConfig {
            address,
            token: None,
            scheduler_file: None,
            worker_ttl: Duration::from_secs(300),
            transfer_limit: crate::wire::transfer_limit(),
            tls: None,
            client_grace: Duration::from_secs(30),
            dashboard: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("scheduler_file", &self.scheduler_file)
            .field("worker_ttl", &self.worker_ttl)
            .field("client_grace", &self.client_grace)
            .field("transfer_limit", &self.transfer_limit)
            .field("tls", &self.tls)
            .field("dashboard", &self.dashboard)
            .finish()
    }
}

/// A running distributed scheduler; dropping it shuts it down (its workers are told to
/// exit, and its scheduler file is removed).
///
/// ```
/// use rask_scheduler::{Server, ServerConfig};
/// let server = Server::start(ServerConfig::new("tcp://127.0.0.1:0".parse()?))?;
/// assert!(server.address().to_string().starts_with("tcp://127.0.0.1:"));
/// drop(server);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    service: Service,
    scheduler_file: Option<PathBuf>,
}

impl Server {
    /// Listens and serves; refuses to listen beyond loopback without a token.
    pub fn start(config: ServerConfig) -> Result<Server, SchedulerError> {
        // Mutual TLS authenticates every caller by its certificate; plain TCP needs the token.
        let authenticated = matches!(config.address, Address::Tls(_));
        if config.token.is_none() && !authenticated && !config.address.is_loopback() {
            return Err(SchedulerError::Config(format!(
                "{} is reachable from other hosts and no token is set: anyone reaching it could run code on the \
                 workers; set RASK_TOKEN (or --token-file), listen on tls:// with certificates, or on 127.0.0.1",
                config.address
            )));
        }
        if let Some(files) = &config.tls {
            crate::wire::configure_tls(files).map_err(|e| SchedulerError::Config(e.to_string()))?;
        }
        let listener = Listener::bind(&config.address).map_err(|e| SchedulerError::Config(e.to_string()))?;
        let address = listener.address().clone();
        let service = Service::start(ServiceConfig {
            name: "scheduler",
            token: config.token.clone().unwrap_or_default(),
            transfer_limit: config.transfer_limit,
            worker_ttl: config.worker_ttl,
            client_grace: config.client_grace,
            listener,
            pool: None,
            clients: true,
        })?;
        if let Some(path) = &config.scheduler_file {
            SchedulerFile {
                address: address.clone(),
                token: config.token.clone(),
                pid: std::process::id(),
                dashboard: config.dashboard.clone(),
            }
            .write(path)?;
        }
        tracing::info!(%address, "scheduler listening");
        Ok(Server { service, scheduler_file: config.scheduler_file })
    }

    /// Where workers and clients connect.
    pub fn address(&self) -> &Address {
        self.service.address()
    }

    /// Workers connected now.
    pub fn workers(&self) -> usize {
        self.service.workers()
    }

    /// Workers lost so far.
    pub fn workers_lost(&self) -> usize {
        self.service.lost()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(path) = &self.scheduler_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let e = Server::start(ServerConfig::new("tcp://0.0.0.0:0".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("no token is set"), "{e}");
    }
}
