//! Mutual TLS, with the real `rask-scheduler` and `rask-worker` binaries on loopback and
//! certificates made by the test (rcgen): a cluster whose every connection (client,
//! workers, worker to worker) is `tls://` computes what an eager computation gives; callers
//! without a certificate the cluster's CA signed, with another CA, or speaking plaintext
//! are refused while the cluster goes on; a large message crosses a TLS connection both
//! ways intact.
//!
//! The certificates name no address the processes use: as in Dask, the CA alone vouches
//! for a peer. This test binary configures TLS for its own process, so it holds only TLS
//! tests.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask::array;
use rask::graph::{OptimizeOptions, Value, optimize};
use rask::prelude::*;
use rask::scheduler::wire::{Address, Connection, Hello, Listener, Role, TlsFiles, configure_tls, connect_handshake};
use rask::scheduler::{Client, ClusterAddress, Scheduler, SchedulerFile, Server, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

const SCHEDULER: &str = env!("CARGO_BIN_EXE_rask-scheduler");
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory of PEM files: a CA and a node certificate it signed, and the same from
/// another CA.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("rask-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for authority in ["cluster", "rogue"] {
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca_params.distinguished_name.push(DnType::CommonName, format!("rask {authority} CA"));
            let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
            // A name no process dials: only the CA's signature is checked.
            let key = KeyPair::generate().unwrap();
            let node = CertificateParams::new(vec!["rask-node".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
            std::fs::write(dir.join(format!("{authority}-ca.pem")), ca.pem()).unwrap();
            std::fs::write(dir.join(format!("{authority}-node.pem")), node.pem()).unwrap();
            std::fs::write(dir.join(format!("{authority}-node.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The node files of `authority`, trusting `ca`'s certificates.
    fn files(&self, authority: &str, ca: &str) -> TlsFiles {
        TlsFiles {
            cert: self.file(&format!("{authority}-node.pem")),
            key: self.file(&format!("{authority}-node.key")),
            ca: self.file(&format!("{ca}-ca.pem")),
        }
    }

    fn args(&self, authority: &str, ca: &str) -> Vec<std::ffi::OsString> {
        let files = self.files(authority, ca);
        vec![
            "--tls-cert".into(),
            files.cert.into(),
            "--tls-key".into(),
            files.key.into(),
            "--tls-ca".into(),
            files.ca.into(),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Child processes, killed and reaped however the test ends.
#[derive(Default)]
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command with no TLS or token settings inherited from the environment.
fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    for var in ["RASK_TOKEN", "RASK_TLS_CERT", "RASK_TLS_KEY", "RASK_TLS_CA"] {
        command.env_remove(var);
    }
    command
}

/// Runs a worker that is expected to fail at once, returning what it printed.
fn failing_worker(args: &[std::ffi::OsString]) -> Output {
    let output = command(WORKER).args(args).args(["--death-timeout", "20s", "--nthreads", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tls_cluster_computes_and_refuses_callers_the_ca_did_not_sign() {
    let _serial = serial();
    let pki = Pki::new("cluster");
    let file = pki.file("scheduler.json");
    let mut processes = Processes::default();
    processes.0.push(
        command(SCHEDULER)
            .args(["--host", "127.0.0.1", "--port", "0", "--scheduler-file"])
            .arg(&file)
            .args(pki.args("cluster", "cluster"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the scheduler wrote its file", || file.exists());
    let address = SchedulerFile::read(&file).unwrap().address;
    assert!(matches!(address, Address::Tls(_)), "{address}");
    for _ in 0..2 {
        processes.0.push(
            command(WORKER)
                .arg("--scheduler-file")
                .arg(&file)
                .args(["--nthreads", "1", "--local-dir"])
                .arg(&pki.dir)
                .args(pki.args("cluster", "cluster"))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    configure_tls(&pki.files("cluster", "cluster")).unwrap();
    let client = Arc::new(Client::connect(ClusterAddress::File(file.clone())).unwrap());
    wait_for("both workers joined", || client.info().unwrap().workers.len() == 2);
    let info = client.info().unwrap();
    assert!(info.workers.iter().all(|w| matches!(w.data_address, Address::Tls(_))), "{info:?}");

    let on_cluster = ComputeOptions::default().scheduler_arc(client.clone());
    // W1's shape, through the raw graph API.
    let (graph, root) = rask::graph::sample::inc_sum_tree(3000, 8);
    let (graph, outputs) = optimize(graph, vec![root], OptimizeOptions::default());
    assert_eq!(client.execute(&graph, &outputs).unwrap(), vec![Value::I64(3000 * 3001 / 2)]);
    // A transpose needs blocks from both workers, so values cross worker to worker.
    let x = array::random::random(7, &[200, 200], [50, 50]).unwrap();
    let eager = x.compute_with(&ComputeOptions::default().scheduler(rask::scheduler::SyncScheduler)).unwrap();
    let want = (&eager + &eager.t()).sum();
    let got = (&x + &x.t()).sum(..).unwrap().compute_with(&on_cluster).unwrap();
    let got = got.first().copied().unwrap();
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} != {want}");

    let hostport = address.to_string().trim_start_matches("tls://").to_string();
    // Plaintext to the TLS port: no handshake.
    let mut plain = Connection::connect(&format!("tcp://{hostport}").parse().unwrap()).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    assert!(connect_handshake(&mut plain, &Hello::new("", Role::Client)).is_err());
    // A worker with a certificate of another CA: the scheduler refuses it.
    let output = failing_worker(
        &[&["--scheduler".into(), address.to_string().into()][..], &pki.args("rogue", "cluster")].concat(),
    );
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("refused this worker") && message.contains("UnknownCA"), "{message}");
    // A worker trusting another CA: it refuses the scheduler.
    let output = failing_worker(
        &[&["--scheduler".into(), address.to_string().into()][..], &pki.args("cluster", "rogue")].concat(),
    );
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
    // A worker with no certificate at all: told so at once, not after its death timeout.
    let started = Instant::now();
    let output = failing_worker(&["--scheduler".into(), address.to_string().into()]);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--tls-cert") && message.contains("RASK_TLS_CERT"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "it gave up without waiting");

    // The cluster is unharmed and still computes.
    let info = client.info().unwrap();
    assert_eq!((info.workers.len(), info.workers_lost), (2, 0), "{info:?}");
    assert_eq!(client.execute(&graph, &outputs).unwrap(), vec![Value::I64(3000 * 3001 / 2)]);
    drop(client);
}

#[test]
fn a_large_message_crosses_a_tls_connection_both_ways() {
    let _serial = serial();
    let pki = Pki::new("echo");
    configure_tls(&pki.files("cluster", "cluster")).unwrap();
    let listener = Listener::bind(&"tls://127.0.0.1:0".parse().unwrap()).unwrap();
    let address = listener.address().clone();
    // The echo writes while the sender still writes: both directions are busy at once.
    let echo = std::thread::spawn(move || {
        let mut conn = listener.accept().unwrap();
        let mut writer = conn.try_clone().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut echoed = 0usize;
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n]).unwrap();
            echoed += n;
        }
        writer.shutdown_write();
        echoed
    });
    let message: Vec<u8> = (0..24u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut conn = Connection::connect(&address).unwrap();
    let mut reader = conn.try_clone().unwrap();
    let receiver = std::thread::spawn(move || {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        back
    });
    conn.write_all(&message).unwrap();
    conn.shutdown_write();
    let back = receiver.join().unwrap();
    assert_eq!(echo.join().unwrap(), message.len());
    assert!(back == message, "the echo differs ({} of {} bytes back)", back.len(), message.len());
}

#[test]
fn certificates_that_do_not_load_are_named_and_tls_needs_no_token_beyond_loopback() {
    let _serial = serial();
    let pki = Pki::new("files");
    let mut files = pki.files("cluster", "cluster");
    files.key = pki.file("missing.key");
    let e = configure_tls(&files).unwrap_err().to_string();
    assert!(e.contains("missing.key"), "{e}");
    files = pki.files("cluster", "cluster");
    files.ca = pki.file("cluster-node.key");
    let e = configure_tls(&files).unwrap_err().to_string();
    assert!(e.contains("cluster-node.key") && e.contains("no CA certificate"), "{e}");
    // The options come as a set.
    let output =
        command(SCHEDULER).args(["--port", "0", "--tls-cert"]).arg(pki.file("cluster-node.pem")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls-key"));
    // Every interface, no token: the CA vouches for callers, so the scheduler starts.
    let mut config = ServerConfig::new("tls://0.0.0.0:0".parse().unwrap());
    config.tls = Some(pki.files("cluster", "cluster"));
    let server = Server::start(config).unwrap();
    assert!(server.address().to_string().starts_with("tls://"));
    drop(server);
}
