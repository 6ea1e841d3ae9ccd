//! The `rask-scheduler` process: its command line, token, logging, signals and exit codes
//! around [`Server`].
//!
//! ```text
//! RASK_TOKEN=... rask-scheduler [--host 127.0.0.1] [--port 8786] [--scheduler-file F]
//!                               [--token-file F] [--worker-ttl 5m] [--client-grace 30s]
//!                               [--transfer-limit BYTES]
//!                               [--dashboard-address 127.0.0.1:8787 | none]
//!                               [--tls-cert F --tls-key F --tls-ca F]
//! ```
//!
//! The shared secret comes from `RASK_TOKEN` or the first line of `--token-file` (never
//! the command line, where other users could read it); without one the scheduler listens
//! only on a loopback address, and refuses to start on any other. `--scheduler-file`
//! writes the address (and the token, readable by the file's owner only) as JSON for
//! workers (`rask-worker --scheduler-file F`) and clients (`RASK_SCHEDULER=scheduler-file:F`)
//! to read. With certificates (`--tls-*`, or `RASK_TLS_CERT`, `RASK_TLS_KEY` and
//! `RASK_TLS_CA`) it listens on `tls://` and takes only callers whose certificate the CA
//! signed, token or not. The web dashboard is served on `--dashboard-address` (see
//! `dashboard/src/lib.rs`; off loopback it asks browsers for the token). SIGTERM or SIGINT shut it down: its workers are told to exit, the scheduler
//! file is removed, and it exits with 0. `RASK_LOG` sets the log filter (`info` by
//! default), logs go to stderr; a scheduler that cannot start exits with 1 and one line
//! saying why.

use std::path::PathBuf;

use clap::Parser;
use rask_scheduler::{Server, ServerConfig};

use crate::worker::{LOG_VAR, TOKEN_VAR, TlsArgs, parse_bytes, parse_duration};

/// The command line of `rask-scheduler`.
#[derive(Debug, Parser)]
#[command(
    name = "rask-scheduler",
    version,
    about = "Schedules rask tasks on the workers that join it (token in RASK_TOKEN or --token-file)"
)]
struct Cli {
    /// The interface to listen on (0.0.0.0 for every one; beyond loopback a token is
    /// required).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on (0: a free one, written to the scheduler file).
    #[arg(long, default_value_t = 8786)]
    port: u16,
    /// Write the scheduler's address (and token) as JSON to this file, for workers and
    /// clients; removed when the scheduler stops.
    #[arg(long, value_name = "FILE")]
    scheduler_file: Option<PathBuf>,
    /// Read the shared secret from the first line of this file [default: RASK_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A worker silent this long is taken for hung: 300, 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    worker_ttl: String,
    /// What a client that disconnected wanted stays wanted this long, so that a network
    /// blip does not lose its work: 0, 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    client_grace: String,
    /// The largest message taken from a worker or client, as 2GiB or 500MB [default: the
    /// host's memory].
    #[arg(long, value_name = "BYTES")]
    transfer_limit: Option<String>,
    /// Where the web dashboard is served (host:port), or `none`. When the default port is
    /// taken, a free one is used instead; an address given and taken is an error.
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_DASHBOARD)]
    dashboard_address: String,
    #[command(flatten)]
    tls: TlsArgs,
}

/// What was wrong with the command line or environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The arguments did not parse (clap's message, with usage).
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// The token file cannot be read or is empty.
    #[error("--token-file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option's value is not one it takes.
    #[error("--{option} {value:?}: {reason}")]
    Value {
        /// The option, without its dashes.
        option: &'static str,
        /// The text given.
        value: String,
        /// Why it is not taken.
        reason: String,
    },
}

/// Builds the server's configuration from command-line arguments (the first is the
/// program name) and `RASK_TOKEN` (passed in).
///
/// ```
/// use rask::scheduler_cli::config_from_args;
/// let config = config_from_args(["rask-scheduler", "--port", "0", "--worker-ttl", "30s"], None)?;
/// assert_eq!(config.address.to_string(), "tcp://127.0.0.1:0");
/// assert_eq!(config.worker_ttl, std::time::Duration::from_secs(30));
/// assert!(config_from_args(["rask-scheduler", "--worker-ttl", "soon"], None).is_err());
/// # Ok::<(), rask::scheduler_cli::CliError>(())
/// ```
pub fn config_from_args<I, T>(args: I, token: Option<String>) -> Result<ServerConfig, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let host = if cli.host.contains(':') && !cli.host.starts_with('[') { format!("[{}]", cli.host) } else { cli.host };
    let tls = cli.tls.files();
    let scheme = if tls.is_some() { "tls" } else { "tcp" };
    let address = format!("{scheme}://{host}:{}", cli.port).parse().map_err(|e: rask_scheduler::wire::WireError| {
        CliError::Value { option: "host", value: host.clone(), reason: e.to_string() }
    })?;
    let mut config = ServerConfig::new(address);
    config.token = match &cli.token_file {
        Some(path) => Some(read_token(path)?),
        None => token.filter(|t| !t.is_empty()),
    };
    config.scheduler_file = cli.scheduler_file;
    config.tls = tls;
    config.worker_ttl = parse_duration(&cli.worker_ttl).map_err(|reason| CliError::Value {
        option: "worker-ttl",
        value: cli.worker_ttl.clone(),
        reason,
    })?;
    config.client_grace = parse_duration(&cli.client_grace).map_err(|reason| CliError::Value {
        option: "client-grace",
        value: cli.client_grace.clone(),
        reason,
    })?;
    if let Some(limit) = cli.transfer_limit {
        config.transfer_limit =
            parse_bytes(&limit).map_err(|reason| CliError::Value { option: "transfer-limit", value: limit, reason })?;
    }
    Ok(config)
}

/// The dashboard's default address (Dask's port).
const DEFAULT_DASHBOARD: &str = "127.0.0.1:8787";

/// Where `rask-scheduler` serves its dashboard, read from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardChoice {
    /// `--dashboard-address none`.
    Off,
    /// The default address; another free port if it is taken.
    Default(std::net::SocketAddr),
    /// An address given: taken is an error.
    Given(std::net::SocketAddr),
}

/// The dashboard choice of a `rask-scheduler` command line (the first argument is the
/// program name).
///
/// ```
/// use rask::scheduler_cli::{dashboard_from_args, DashboardChoice};
/// assert!(matches!(dashboard_from_args(["rask-scheduler"])?, DashboardChoice::Default(_)));
/// assert_eq!(dashboard_from_args(["rask-scheduler", "--dashboard-address", "none"])?, DashboardChoice::Off);
/// assert!(dashboard_from_args(["rask-scheduler", "--dashboard-address", "nowhere"]).is_err());
/// # Ok::<(), rask::scheduler_cli::CliError>(())
/// ```
pub fn dashboard_from_args<I, T>(args: I) -> Result<DashboardChoice, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let text = cli.dashboard_address;
    if text == "none" {
        return Ok(DashboardChoice::Off);
    }
    let address = text.parse::<std::net::SocketAddr>().map_err(|e| CliError::Value {
        option: "dashboard-address",
        value: text.clone(),
        reason: e.to_string(),
    })?;
    Ok(if text == DEFAULT_DASHBOARD { DashboardChoice::Default(address) } else { DashboardChoice::Given(address) })
}

/// Starts the dashboard `choice` names, with the cluster's `token` for browsers off
/// loopback; `None` when it is off.
fn start_dashboard(
    choice: &DashboardChoice,
    token: Option<String>,
) -> Result<Option<rask_dashboard::Dashboard>, rask_dashboard::DashboardError> {
    let (address, fallback) = match *choice {
        DashboardChoice::Off => return Ok(None),
        DashboardChoice::Default(address) => (address, true),
        DashboardChoice::Given(address) => (address, false),
    };
    let options = rask_dashboard::DashboardOptions { address, token };
    match rask_dashboard::serve(options.clone()) {
        Err(rask_dashboard::DashboardError::Bind { .. }) if fallback => {
            let free = std::net::SocketAddr::new(address.ip(), 0);
            tracing::warn!(%address, "the dashboard's port is taken; serving it on another");
            rask_dashboard::serve(rask_dashboard::DashboardOptions { address: free, ..options }).map(Some)
        }
        other => other.map(Some),
    }
}

fn read_token(path: &PathBuf) -> Result<String, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::TokenFile { path: path.clone(), reason: e.to_string() })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(CliError::TokenFile { path: path.clone(), reason: "the file is empty".into() });
    }
    Ok(token)
}

/// The `rask-scheduler` binary: parses the command line and `RASK_TOKEN`, logs to stderr
/// as `RASK_LOG` says, serves until SIGTERM or SIGINT, then shuts down cleanly.
pub fn main() {
    init_logging();
    let config = match config_from_args(std::env::args_os(), std::env::var(TOKEN_VAR).ok()) {
        Ok(config) => config,
        Err(CliError::Usage(e)) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(CliError::Usage(e)) => {
            let _ = e.print();
            std::process::exit(1);
        }
        Err(e) => fail(&e),
    };
    let mut signals =
        match signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]) {
            Ok(signals) => signals,
            Err(e) => fail(&format!("cannot watch signals: {e}")),
        };
    let dashboard = match dashboard_from_args(std::env::args_os()) {
        Ok(choice) => choice,
        Err(e) => fail(&e),
    };
    let mut config = config;
    // The dashboard first: its address goes into the scheduler file.
    let _dashboard = match start_dashboard(&dashboard, config.token.clone()) {
        Ok(Some(dashboard)) => {
            config.dashboard = Some(dashboard.url());
            Some(dashboard)
        }
        Ok(None) => None,
        Err(e) => fail(&e),
    };
    let server = match Server::start(config.clone()) {
        Ok(server) => server,
        Err(e) => fail(&e),
    };
    eprintln!("rask-scheduler listening on {}", server.address());
    if let Some(url) = &config.dashboard {
        eprintln!("rask-scheduler dashboard at {url}");
    }
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "shutting down");
    }
    drop(server);
}

fn fail(error: &dyn std::fmt::Display) -> ! {
    eprintln!("rask-scheduler: {error}");
    std::process::exit(1);
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(LOG_VAR).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
