//! The `rask-worker` process: its command line, logging and exit codes around
//! [`run_worker`].
//!
//! ```text
//! RASK_TOKEN=... rask-worker (--scheduler ADDR | --scheduler-file FILE) [--death-timeout 60s]
//!                            [--nthreads N] [--memory-limit BYTES|4GiB|500MB|auto]
//!                            [--local-dir DIR] [--name NAME] [--transfer-limit BYTES]
//!                            [--listen-address ADDR] [--contact-address ADDR]
//! ```
//!
//! `ADDR` is `tcp://host:port` or `unix:///path`; `--scheduler-file` reads it (and the
//! token, if `RASK_TOKEN` is not set) from the file `rask-scheduler --scheduler-file`
//! writes. The worker keeps trying to reach its scheduler for `--death-timeout`, so
//! workers may start before it. The shared secret comes from the `RASK_TOKEN` environment
//! variable (never the command line, where other users could read it); `RASK_LOG` sets
//! the log filter (`warn` by default; `info`, `debug`, `rask_scheduler::worker=debug`,
//! ...), logs go to stderr. A worker that cannot start exits with code 1 and one line
//! saying why; it exits with 0 when its scheduler closes the connection or tells it to
//! shut down, and starts again as a new process (`exec`, same pid) when told to restart.
//!
//! # Workers for your own ops
//!
//! A worker can only run ops whose registrations are linked into its binary. This module
//! links every built-in op (graph ops, arrays, dataframes); a task using any other op
//! fails with an error naming the op. If your crate defines ops of its own
//! (`#[typetag::serde(name = "myapp.scale")] impl Op for Scale`), build a worker that
//! links them: a binary in your crate, say `src/bin/my-worker.rs`,
//!
//! ```no_run
//! // Naming the crate keeps its op registrations in the binary (the linker would drop
//! // them otherwise); inside the ops crate itself, the binary already names it.
//! // use my_ops_crate as _;
//! fn main() {
//!     rask::worker::main()
//! }
//! ```
//!
//! and point the process pool at it with `RASK_WORKER_BIN=target/release/my-worker`.

// The example above is a whole binary: its `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

use std::path::PathBuf;

use clap::Parser;
use rask_scheduler::wire::{Address, TlsFiles, WireError};
// Every op of the collections crate must be registered in the worker binary.
use rask_collections as _;

pub use rask_scheduler::worker::{Ended, WorkerConfig, WorkerError, run_worker};

/// The environment variable holding the shared secret.
pub const TOKEN_VAR: &str = "RASK_TOKEN";
/// The environment variable holding the log filter.
pub const LOG_VAR: &str = "RASK_LOG";

/// The command line of `rask-worker`.
#[derive(Debug, Parser)]
#[command(name = "rask-worker", version, about = "Runs rask tasks for a scheduler (token in RASK_TOKEN)")]
struct Cli {
    /// The scheduler's address: tcp://host:port, tls://host:port (with --tls-*) or
    /// unix:///path.
    #[arg(long, value_name = "ADDR", required_unless_present = "scheduler_file", conflicts_with = "scheduler_file")]
    scheduler: Option<String>,
    /// Read the scheduler's address (and token, without RASK_TOKEN) from this file, as
    /// `rask-scheduler --scheduler-file` writes it.
    #[arg(long, value_name = "FILE")]
    scheduler_file: Option<PathBuf>,
    /// Keep trying to reach the scheduler this long before giving up: 60s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    death_timeout: String,
    /// Threads running tasks [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    nthreads: Option<u32>,
    /// Bytes kept in memory before spilling to disk: a number of bytes, with a unit
    /// (500MB, 4GiB) or `auto` (80% of physical memory) [default: no limit].
    #[arg(long, value_name = "BYTES")]
    memory_limit: Option<String>,
    /// Where to put the worker's directory (data socket, spilled values) [default: the
    /// system temp dir].
    #[arg(long, value_name = "DIR")]
    local_dir: Option<PathBuf>,
    /// A name for logs [default: host-pid].
    #[arg(long)]
    name: Option<String>,
    /// The largest message taken from the scheduler or a peer, as --memory-limit
    /// (500MB, 4GiB); a larger value is refused, and the task needing it fails saying so
    /// [default: the host's memory].
    #[arg(long, value_name = "BYTES")]
    transfer_limit: Option<String>,
    /// Where the data server listens for peers: tcp://host:port (tcp://0.0.0.0:0 for
    /// every interface) or unix:///path [default: the interface that reaches the
    /// scheduler, a free port].
    #[arg(long, value_name = "ADDR")]
    listen_address: Option<String>,
    /// The data address announced to peers, when they reach this worker through another
    /// address (NAT, containers) [default: the address listened on].
    #[arg(long, value_name = "ADDR")]
    contact_address: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

/// The certificate options both binaries take: all three or none; without them,
/// `RASK_TLS_CERT`, `RASK_TLS_KEY` and `RASK_TLS_CA`, if all are set.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// This process's certificate (PEM), signed by the cluster's CA: turns on mutual TLS.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_ca"])]
    tls_key: Option<PathBuf>,
    /// The cluster's CA certificate (PEM): only peers it signed are accepted.
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The files given, else those the environment names.
    pub(crate) fn files(self) -> Option<TlsFiles> {
        match (self.tls_cert, self.tls_key, self.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(TlsFiles { cert, key, ca }),
            _ => TlsFiles::from_env(),
        }
    }
}

/// What was wrong with the command line or environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The arguments did not parse (clap's message, with usage).
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// `RASK_TOKEN` is not set or empty, and no scheduler file can give the token.
    #[error(
        "{TOKEN_VAR} is not set: the worker needs the scheduler's shared secret in the {TOKEN_VAR} environment variable (or from --scheduler-file)"
    )]
    MissingToken,
    /// An address option (`--scheduler`, `--listen-address`, `--contact-address`) is not
    /// an address.
    #[error("--{option}: {source}")]
    Address {
        /// The option, without its dashes.
        option: &'static str,
        /// Why it is not an address.
        #[source]
        source: WireError,
    },
    /// A duration option (`--death-timeout`) is not a duration.
    #[error("--{option} {value:?}: {reason}")]
    Duration {
        /// The option, without its dashes.
        option: &'static str,
        /// The text given.
        value: String,
        /// Why it is not a duration.
        reason: String,
    },
    /// A size option (`--memory-limit`, `--transfer-limit`) is not a size.
    #[error("--{option} {value:?}: {reason}")]
    Size {
        /// The option, without its dashes.
        option: &'static str,
        /// The text given.
        value: String,
        /// Why it is not a size.
        reason: String,
    },
}

/// Parses a byte size: a plain number, a number with a unit (`B`, `KB`/`MB`/`GB`/`TB` in
/// powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` in powers of 1024, case-insensitive, decimals
/// allowed), or `auto` for 80% of the physical memory (`MemTotal` in `/proc/meminfo`). An
/// `Err` says what is wrong with the text.
///
/// ```
/// use rask::worker::parse_bytes;
/// assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
/// assert_eq!(parse_bytes("500MB").unwrap(), 500_000_000);
/// assert_eq!(parse_bytes("1.5 kib").unwrap(), 1536);
/// assert_eq!(parse_bytes("1024").unwrap(), 1024);
/// assert!(parse_bytes("auto").unwrap() > 0);
/// assert!(parse_bytes("lots").is_err());
/// assert!(parse_bytes("4 parsecs").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let invalid = |reason: &str| reason.to_string();
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("auto") {
        return auto_memory_limit().map_err(|reason| invalid(&reason));
    }
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| invalid("expected a number of bytes, optionally with a unit (500MB, 4GiB) or auto"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(invalid("unknown unit; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(invalid("too large"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a duration: seconds, or a number with `ms`, `s`, `m` or `h`.
///
/// ```
/// use std::time::Duration;
/// use rask::worker::parse_duration;
/// assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
/// assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| "expected a duration such as 30s, 5m or 300".to_string())?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err("unknown unit; use ms, s, m or h".to_string()),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// 80% of the physical memory (`MemTotal` in `/proc/meminfo`).
fn auto_memory_limit() -> Result<u64, String> {
    let total = rask_graph::memory::physical()
        .ok_or_else(|| "auto needs MemTotal from /proc/meminfo, which cannot be read".to_string())?;
    Ok(total / 10 * 8)
}

/// A size option's value.
fn size(option: &'static str, text: &str) -> Result<u64, CliError> {
    parse_bytes(text).map_err(|reason| CliError::Size { option, value: text.to_string(), reason })
}

/// Builds the worker's configuration from command-line arguments (the first is the
/// program name) and the token (the binary passes `RASK_TOKEN`).
///
/// ```
/// use rask::worker::config_from_args;
/// let config = config_from_args(
///     ["rask-worker", "--scheduler", "tcp://127.0.0.1:8786", "--nthreads", "3", "--memory-limit", "2GiB"],
///     Some("secret".to_string()),
/// )?;
/// assert_eq!((config.nthreads, config.memory_limit), (3, Some(2 << 30)));
/// let limited = config_from_args(
///     ["rask-worker", "--scheduler", "tcp://127.0.0.1:8786", "--transfer-limit", "1MiB"],
///     Some("secret".to_string()),
/// )?;
/// assert_eq!(limited.transfer_limit, 1 << 20);
/// assert!(config_from_args(["rask-worker", "--scheduler", "tcp://10.0.0.1:8786"], None).is_err());
/// assert!(config_from_args(["rask-worker", "--scheduler", "tcp://127.0.0.1:8786"], None).is_ok());
/// assert!(config_from_args(["rask-worker", "--scheduler", "http://x"], Some("s".into())).is_err());
/// let on_all = config_from_args(
///     ["rask-worker", "--scheduler", "tcp://10.0.0.1:8786", "--listen-address", "tcp://0.0.0.0:9000"],
///     Some("secret".to_string()),
/// )?;
/// assert_eq!(on_all.listen, Some("tcp://0.0.0.0:9000".parse().unwrap()));
/// # Ok::<(), rask::worker::CliError>(())
/// ```
pub fn config_from_args<I, T>(args: I, token: Option<String>) -> Result<WorkerConfig, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let address = |option: &'static str, text: &str| {
        text.parse::<Address>().map_err(|source| CliError::Address { option, source })
    };
    let token = token.filter(|t| !t.is_empty());
    let mut config = match (&cli.scheduler, cli.scheduler_file) {
        (Some(scheduler), _) => {
            let scheduler = address("scheduler", scheduler)?;
            // A scheduler on loopback may go without a token, and one on TLS (its CA vouches
            // for its callers); any other must have one.
            let token = match token {
                Some(token) => token,
                None if scheduler.is_loopback() || matches!(scheduler, Address::Tls(_)) => String::new(),
                None => return Err(CliError::MissingToken),
            };
            WorkerConfig::new(scheduler, token)
        }
        (None, file) => {
            // The address is read from the file when connecting; the token too, if unset.
            let mut config = WorkerConfig::new(Address::Unix(PathBuf::new()), token.unwrap_or_default());
            config.scheduler_file = file;
            config
        }
    };
    config.death_timeout = parse_duration(&cli.death_timeout).map_err(|reason| CliError::Duration {
        option: "death-timeout",
        value: cli.death_timeout.clone(),
        reason,
    })?;
    if let Some(n) = cli.nthreads {
        config.nthreads = n as usize;
    }
    config.memory_limit = cli.memory_limit.as_deref().map(|m| size("memory-limit", m)).transpose()?;
    if let Some(limit) = cli.transfer_limit.as_deref() {
        config.transfer_limit = size("transfer-limit", limit)?;
    }
    if let Some(dir) = cli.local_dir {
        config.local_dir = dir;
    }
    if let Some(name) = cli.name {
        config.name = name;
    }
    config.listen = cli.listen_address.as_deref().map(|a| address("listen-address", a)).transpose()?;
    config.contact = cli.contact_address.as_deref().map(|a| address("contact-address", a)).transpose()?;
    config.tls = cli.tls.files();
    Ok(config)
}

/// The `rask-worker` binary: parses the command line and `RASK_TOKEN`, logs to stderr
/// as `RASK_LOG` says, and runs the worker until its scheduler goes away. Exits with
/// code 1 and one line naming what was wrong if it cannot start.
pub fn main() {
    let token = std::env::var(TOKEN_VAR).ok();
    let config = match config_from_args(std::env::args_os(), token) {
        Ok(config) => config,
        Err(CliError::Usage(e)) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            std::process::exit(0);
        }
        Err(CliError::Usage(e)) => {
            let _ = e.print();
            std::process::exit(1);
        }
        Err(e) => fail(&e),
    };
    init_logging();
    match run_worker(config) {
        Ok(Ended::Stopped) => {}
        Ok(Ended::Restart) => restart(),
        Err(e) => fail(&e),
    }
}

/// Starts this process again as new (the scheduler asked for a restart): the same
/// binary, arguments and environment, in place of this one, so that whatever started
/// the worker (a job script, `LocalCluster`) still holds it by its pid.
fn restart() -> ! {
    use std::os::unix::process::CommandExt;
    let error = match std::env::current_exe() {
        Ok(binary) => std::process::Command::new(binary).args(std::env::args_os().skip(1)).exec(),
        Err(e) => e,
    };
    fail(&format!("cannot restart as the scheduler asked: {error}"))
}

fn fail(error: &dyn std::fmt::Display) -> ! {
    eprintln!("rask-worker: {error}");
    std::process::exit(1);
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(LOG_VAR).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
