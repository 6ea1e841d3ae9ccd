//! TLS between rask processes (`tls://host:port`), mutual: every side presents a
//! certificate signed by the cluster's CA and checks that the other's is (rustls, with
//! ring). As in Dask, the name in a certificate is not checked against the address dialled:
//! workers reach each other by announced IPs, which node certificates rarely list.
//!
//! rask's connections are blocking streams that a reader thread and a writer thread use at
//! once, and this kernel offers no kernel TLS. So each TLS connection gets a relay thread:
//! it owns the TCP socket and the TLS session, and joins them to a Unix socket pair whose
//! other end is the [`Connection`](super::Connection) the rest of rask reads and writes,
//! plaintext, like any other. The relay polls both sockets (never blocking on one while
//! the other has work), and records why TLS failed, which the connection reports instead
//! of a bare end of stream.
//!
//! Certificates come from [`configure_tls`], or from `RASK_TLS_CERT`, `RASK_TLS_KEY` and
//! `RASK_TLS_CA` (PEM files) the first time a `tls://` address is used.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig, ServerConnection,
    SignatureScheme,
};

use super::WireError;

/// Plaintext held for the other side at most before the relay stops reading more.
const BACKLOG: usize = 4 << 20;
/// Bytes moved per read.
const CHUNK: usize = 256 << 10;

/// The PEM files of one process: its certificate (chain), its private key, and the CA
/// that signs every certificate of the cluster.
///
/// ```no_run
/// use rask_scheduler::wire::{configure_tls, TlsFiles};
/// configure_tls(&TlsFiles { cert: "node.pem".into(), key: "node.key".into(), ca: "ca.pem".into() })?;
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This process's certificate, then any intermediates.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA whose certificates this process trusts.
    pub ca: PathBuf,
}

impl TlsFiles {
    /// The files named by `RASK_TLS_CERT`, `RASK_TLS_KEY` and `RASK_TLS_CA`, if all are set.
    pub fn from_env() -> Option<TlsFiles> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(TlsFiles { cert: var("RASK_TLS_CERT")?, key: var("RASK_TLS_KEY")?, ca: var("RASK_TLS_CA")? })
    }
}

/// Both sides of this process's TLS.
#[derive(Debug)]
struct Context {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

static CONTEXT: RwLock<Option<Arc<Context>>> = RwLock::new(None);

/// Loads `files` for every `tls://` connection this process makes or accepts from now
/// on; an error names the file and what is wrong with it.
pub fn configure_tls(files: &TlsFiles) -> Result<(), WireError> {
    let context = load(files)?;
    *CONTEXT.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(context));
    Ok(())
}

/// The configured context, else one loaded from the environment.
fn context() -> io::Result<Arc<Context>> {
    if let Some(context) = CONTEXT.read().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok(context);
    }
    let files = TlsFiles::from_env().ok_or_else(|| {
        io::Error::other(
            "a tls:// address needs certificates: configure them (--tls-cert, --tls-key, --tls-ca) or set \
             RASK_TLS_CERT, RASK_TLS_KEY and RASK_TLS_CA",
        )
    })?;
    configure_tls(&files).map_err(io::Error::other)?;
    CONTEXT.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| io::Error::other("no TLS context"))
}

fn load(files: &TlsFiles) -> Result<Context, WireError> {
    let bad = |path: &Path, what: String| WireError::Tls(format!("{}: {what}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| bad(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.ca)
        .and_then(|certs| certs.collect())
        .map_err(|e| bad(&files.ca, e.to_string()))?;
    for ca in cas {
        roots.add(ca).map_err(|e| bad(&files.ca, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad(&files.ca, "no CA certificate in the file".into()));
    }
    let roots = Arc::new(roots);
    // ring builds in seconds where aws-lc-rs needs a C toolchain and minutes; it lacks only
    // post-quantum key exchange, which rustls marks by deprecating its provider.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| bad(&files.ca, e.to_string()))?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| WireError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| bad(&files.key, e.to_string()))?;
    server.send_tls13_tickets = 0;
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| WireError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SignedByClusterCa { roots, provider }))
        .with_client_auth_cert(certs, key)
        .map_err(|e| bad(&files.key, e.to_string()))?;
    Ok(Context { server: Arc::new(server), client: Arc::new(client) })
}

/// Checks that a server's certificate chains to the cluster's CA, and not the name in it:
/// workers reach each other by the addresses they announce (an IP, often), which node
/// certificates rarely list, so, as in Dask, the CA alone vouches for a peer.
#[derive(Debug)]
struct SignedByClusterCa {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SignedByClusterCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        let algorithms = self.provider.signature_verification_algorithms.all;
        rustls::client::verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, algorithms)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a relay's TLS failed, for its connection to report.
pub(crate) type TlsFailure = Arc<Mutex<Option<String>>>;

/// Whether this process can make and accept TLS connections (certificates configured or
/// named by the environment); the error says what is missing.
pub(crate) fn ready() -> Result<(), WireError> {
    context().map(drop).map_err(|e| WireError::Tls(e.to_string()))
}

/// The plaintext end of a TLS client connection over `tcp` to `host`.
pub(crate) fn connect(tcp: TcpStream, host: &str) -> io::Result<(UnixStream, TlsFailure)> {
    let context = context()?;
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
        .map_err(|e| io::Error::other(format!("{host} is not a name a certificate can hold: {e}")))?;
    let session = ClientConnection::new(context.client.clone(), name).map_err(io::Error::other)?;
    relay(tcp, rustls::Connection::Client(session))
}

/// The plaintext end of a TLS server connection over `tcp`.
pub(crate) fn accept(tcp: TcpStream) -> io::Result<(UnixStream, TlsFailure)> {
    let context = context()?;
    let session = ServerConnection::new(context.server.clone()).map_err(io::Error::other)?;
    relay(tcp, rustls::Connection::Server(session))
}

fn relay(tcp: TcpStream, session: rustls::Connection) -> io::Result<(UnixStream, TlsFailure)> {
    let (ours, theirs) = UnixStream::pair()?;
    tcp.set_nonblocking(true)?;
    theirs.set_nonblocking(true)?;
    let failure: TlsFailure = Arc::default();
    let noted = failure.clone();
    std::thread::Builder::new().name("rask-tls".into()).stack_size(256 << 10).spawn(move || {
        let mut relay = Relay { tcp, plain: theirs, session, to_plain: Vec::new() };
        if let Err(e) = relay.run() {
            tracing::debug!(error = %e, "TLS connection ended");
            *noted.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        // Only now does the plaintext side see the end, with the reason already noted.
        drop(relay);
    })?;
    Ok((ours, failure))
}

/// A TLS session between a TCP socket (ciphertext) and a Unix socket (plaintext).
struct Relay {
    tcp: TcpStream,
    plain: UnixStream,
    session: rustls::Connection,
    /// Plaintext decrypted and not yet written to the Unix socket.
    to_plain: Vec<u8>,
}

impl Relay {
    /// Relays until both directions are closed: each closes on its own (a half-close
    /// becomes a TLS `close_notify` one way, and a `close_notify` or end of stream from the
    /// peer an end of stream on the plaintext side the other way).
    fn run(&mut self) -> io::Result<()> {
        // Writes are paced by the socket (plaintext is read only once the last of it is
        // sent), not by rustls's buffer limit, which would make `write_all` fail.
        self.session.set_buffer_limit(None);
        let mut buf = vec![0u8; CHUNK];
        // Peer -> rask, and rask -> peer.
        let (mut inbound, mut outbound) = (true, true);
        let mut plain_shut = false;
        loop {
            let established = !self.session.is_handshaking();
            let read_plain = outbound && established && !self.session.wants_write();
            let mut fds = [
                pollfd(&self.tcp, inbound && self.to_plain.len() < BACKLOG, self.session.wants_write()),
                pollfd(&self.plain, read_plain, !self.to_plain.is_empty()),
            ];
            if !outbound && inbound {
                // Waits for nothing but a hang-up: rask dropping its end altogether.
                fds[1].fd = self.plain.as_raw_fd();
            }
            if fds.iter().all(|f| f.fd < 0) {
                return Ok(()); // Both directions are done.
            }
            // SAFETY: two pollfds of sockets this relay owns (or -1, which poll skips).
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let ready = |f: &libc::pollfd| f.fd >= 0 && f.revents != 0;
            if ready(&fds[0]) && inbound && self.to_plain.len() < BACKLOG {
                inbound = self.receive(&mut buf)?;
            }
            while !self.to_plain.is_empty() {
                match self.plain.write(&self.to_plain) {
                    Ok(n) => drop(self.to_plain.drain(..n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // Nobody reads any more: rask dropped the connection.
                    Err(e) if !outbound && e.kind() == ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            if !inbound && !plain_shut && self.to_plain.is_empty() {
                // Nothing more will come: rask's reader sees the end.
                let _ = self.plain.shutdown(std::net::Shutdown::Write);
                plain_shut = true;
            }
            if ready(&fds[1]) && !outbound && fds[1].revents & libc::POLLHUP != 0 {
                return Ok(()); // rask is gone: what the peer still sends has no reader.
            }
            if ready(&fds[1]) && read_plain {
                match self.plain.read(&mut buf) {
                    Ok(0) => {
                        // rask will write no more: tell the peer (it may still answer).
                        self.session.send_close_notify();
                        outbound = false;
                    }
                    Ok(n) => self.session.writer().write_all(&buf[..n])?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            while self.session.wants_write() {
                match self.session.write_tls(&mut self.tcp) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if !outbound && !self.session.wants_write() {
                let _ = self.tcp.shutdown(std::net::Shutdown::Write);
                if !inbound && self.to_plain.is_empty() {
                    return Ok(());
                }
            }
        }
    }

    /// Reads and decrypts what the TCP socket holds, up to the backlog; false once the
    /// peer closed it.
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        while self.to_plain.len() < BACKLOG {
            match self.session.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let state = match self.session.process_new_packets() {
                        Ok(state) => state,
                        Err(e) => {
                            // Send the alert rustls queued, so the peer learns why too.
                            let _ = self.session.write_tls(&mut self.tcp);
                            return Err(io::Error::other(e.to_string()));
                        }
                    };
                    let mut pending = state.plaintext_bytes_to_read();
                    while pending > 0 {
                        let want = pending.min(buf.len());
                        let got = self.session.reader().read(&mut buf[..want])?;
                        if got == 0 {
                            break;
                        }
                        self.to_plain.extend_from_slice(&buf[..got]);
                        pending -= got;
                    }
                    if state.peer_has_closed() {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

fn pollfd(socket: &impl AsRawFd, read: bool, write: bool) -> libc::pollfd {
    let mut events = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    // A socket with nothing to wait for is left out (poll skips negative descriptors),
    // or its hang-up would wake the relay in a loop.
    let fd = if events == 0 { -1 } else { socket.as_raw_fd() };
    libc::pollfd { fd, events, revents: 0 }
}
