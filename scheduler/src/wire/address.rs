//! Where rask processes listen, and the one stream type over TCP and Unix sockets.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::WireError;

/// An address to listen on or connect to: `tcp://host:port`, `tls://host:port` (TCP with
/// mutual TLS, see [`configure_tls`](super::configure_tls)) or `unix:///path/to/socket`.
///
/// ```
/// use rask_scheduler::wire::Address;
/// let a: Address = "tcp://127.0.0.1:8786".parse().unwrap();
/// assert_eq!(a.to_string(), "tcp://127.0.0.1:8786");
/// let u: Address = "unix:///tmp/rask.sock".parse().unwrap();
/// assert_eq!(u, Address::Unix("/tmp/rask.sock".into()));
/// assert!("http://x".parse::<Address>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Address {
    /// A TCP `host:port`.
    Tcp(String),
    /// A TCP `host:port` carrying TLS.
    Tls(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl Address {
    /// Whether only this host can reach the address: a Unix socket, or TCP on a loopback
    /// interface (`127.0.0.0/8`, `::1`, `localhost`).
    ///
    /// ```
    /// use rask_scheduler::wire::Address;
    /// for a in ["tcp://127.0.0.1:1", "tcp://localhost:1", "tcp://[::1]:1", "unix:///tmp/x"] {
    ///     assert!(a.parse::<Address>().unwrap().is_loopback(), "{a}");
    /// }
    /// for a in ["tcp://0.0.0.0:1", "tcp://10.1.2.3:1", "tcp://example.org:1"] {
    ///     assert!(!a.parse::<Address>().unwrap().is_loopback(), "{a}");
    /// }
    /// ```
    pub fn is_loopback(&self) -> bool {
        match self {
            Address::Unix(_) => true,
            Address::Tcp(hostport) | Address::Tls(hostport) => {
                let host = hostport.rsplit_once(':').map_or(hostport.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

impl FromStr for Address {
    type Err = WireError;

    fn from_str(s: &str) -> Result<Self, WireError> {
        let (tls, tcp) = (s.strip_prefix("tls://"), s.strip_prefix("tcp://"));
        if let Some(rest) = tcp.or(tls) {
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(if tls.is_some() { Address::Tls(rest.to_string()) } else { Address::Tcp(rest.to_string()) })
                }
                _ => Err(WireError::InvalidAddress(s.to_string())),
            }
        } else if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(WireError::InvalidAddress(s.to_string()));
            }
            Ok(Address::Unix(PathBuf::from(path)))
        } else {
            Err(WireError::InvalidAddress(s.to_string()))
        }
    }
}

impl TryFrom<String> for Address {
    type Error = WireError;
    fn try_from(s: String) -> Result<Self, WireError> {
        s.parse()
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hostport) => write!(f, "tcp://{hostport}"),
            Address::Tls(hostport) => write!(f, "tls://{hostport}"),
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub struct Listener {
    inner: ListenerInner,
    address: Address,
}

#[derive(Debug)]
enum ListenerInner {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds `address`; port 0 picks a free port, which [`Listener::address`] reports. A
    /// stale Unix socket file at the path is replaced.
    pub fn bind(address: &Address) -> Result<Listener, WireError> {
        match address {
            Address::Tcp(hostport) | Address::Tls(hostport) => {
                if let Address::Tls(_) = address {
                    super::tls::ready()?;
                }
                let l =
                    TcpListener::bind(hostport).map_err(|e| WireError::io(format!("cannot listen on {address}"), e))?;
                let local = l.local_addr().map_err(|e| WireError::io(format!("cannot listen on {address}"), e))?;
                let bound = match address {
                    Address::Tls(_) => Address::Tls(local.to_string()),
                    _ => Address::Tcp(local.to_string()),
                };
                Ok(Listener { inner: ListenerInner::Tcp(l), address: bound })
            }
            Address::Unix(path) => {
                if path.exists() && UnixStream::connect(path).is_err() {
                    let _ = std::fs::remove_file(path);
                }
                let l =
                    UnixListener::bind(path).map_err(|e| WireError::io(format!("cannot listen on {address}"), e))?;
                Ok(Listener { inner: ListenerInner::Unix(l), address: address.clone() })
            }
        }
    }

    /// The address peers connect to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Wakes every thread blocked in [`Listener::accept`] (with an error) and makes
    /// later calls fail at once: the socket stops listening. Needs no connection to the
    /// listener, so it works even after its Unix socket file was removed.
    pub fn interrupt(&self) {
        use std::os::fd::AsRawFd;
        let fd = match &self.inner {
            ListenerInner::Tcp(l) => l.as_raw_fd(),
            ListenerInner::Unix(l) => l.as_raw_fd(),
        };
        // SAFETY: `fd` is this listener's own descriptor, open for as long as `self` lives;
        // shutting a listening socket down only ends its accepting (Linux wakes blocked
        // accept calls with EINVAL).
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> Result<Connection, WireError> {
        let context = || format!("accept on {}", self.address);
        match &self.inner {
            ListenerInner::Tcp(l) => {
                let (s, peer) = l.accept().map_err(|e| WireError::io(context(), e))?;
                let _ = s.set_nodelay(true);
                if let Address::Tls(_) = self.address {
                    let (local, loopback) = (s.local_addr().ok().map(|a| a.ip()), peer.ip().is_loopback());
                    let (plain, failure) = super::tls::accept(s).map_err(|e| WireError::io(context(), e))?;
                    let stream = Stream::Tls(TlsStream { plain, failure, local, loopback });
                    return Ok(Connection { stream, peer: format!("tls://{peer}") });
                }
                Ok(Connection { stream: Stream::Tcp(s), peer: format!("tcp://{peer}") })
            }
            ListenerInner::Unix(l) => {
                let (s, _) = l.accept().map_err(|e| WireError::io(context(), e))?;
                Ok(Connection { stream: Stream::Unix(s), peer: self.address.to_string() })
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let ListenerInner::Unix(_) = self.inner
            && let Address::Unix(path) = &self.address
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One connected stream, TCP or Unix; blocking reads and writes.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    peer: String,
}

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(TlsStream),
}

/// The plaintext end of a TLS connection, whose relay thread owns the TCP socket.
#[derive(Debug)]
struct TlsStream {
    plain: UnixStream,
    failure: super::tls::TlsFailure,
    /// The TCP socket's own address, and whether the peer's is a loopback one.
    local: Option<std::net::IpAddr>,
    loopback: bool,
}

impl TlsStream {
    /// A failed read or write, with why TLS ended if that is the cause (the relay closed
    /// its end: a reset if it left unread plaintext behind, a broken pipe to a writer).
    fn broken<T>(&self, error: io::Error) -> io::Result<T> {
        match self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(why) if matches!(error.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, format!("TLS: {why}")))
            }
            _ => Err(error),
        }
    }

    /// An end of stream, with why TLS ended if it failed.
    fn ended(&self) -> io::Result<usize> {
        match self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(why) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, format!("TLS: {why}"))),
            None => Ok(0),
        }
    }
}

impl Connection {
    /// Connects to `address`.
    pub fn connect(address: &Address) -> Result<Connection, WireError> {
        let context = || format!("cannot connect to {address}");
        let stream = match address {
            Address::Tcp(hostport) => {
                let s = connect_tcp(hostport).map_err(|e| WireError::io(context(), e))?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
            Address::Tls(hostport) => {
                super::tls::ready()?;
                let s = connect_tcp(hostport).map_err(|e| WireError::io(context(), e))?;
                let _ = s.set_nodelay(true);
                let (local, loopback) =
                    (s.local_addr().ok().map(|a| a.ip()), s.peer_addr().is_ok_and(|a| a.ip().is_loopback()));
                let host = hostport.rsplit_once(':').map_or(hostport.as_str(), |(h, _)| h);
                let (plain, failure) = super::tls::connect(s, host).map_err(|e| WireError::io(context(), e))?;
                Stream::Tls(TlsStream { plain, failure, local, loopback })
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(|e| WireError::io(context(), e))?),
        };
        Ok(Connection { stream, peer: address.to_string() })
    }

    /// Who is at the other end, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether the other end is on this host: a Unix socket, or TCP from a loopback
    /// address.
    pub fn is_local(&self) -> bool {
        match &self.stream {
            Stream::Unix(_) => true,
            Stream::Tcp(s) => s.peer_addr().is_ok_and(|a| a.ip().is_loopback()),
            Stream::Tls(t) => t.loopback,
        }
    }

    /// The local IP address of a TCP connection (the interface that reaches the peer);
    /// `None` for Unix sockets.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        match &self.stream {
            Stream::Tcp(s) => s.local_addr().ok().map(|a| a.ip()),
            Stream::Tls(t) => t.local,
            Stream::Unix(_) => None,
        }
    }

    /// A second handle on the same stream (one thread reads while another writes).
    pub fn try_clone(&self) -> Result<Connection, WireError> {
        let context = || format!("cannot clone connection to {}", self.peer);
        let stream = match &self.stream {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone().map_err(|e| WireError::io(context(), e))?),
            Stream::Unix(s) => Stream::Unix(s.try_clone().map_err(|e| WireError::io(context(), e))?),
            Stream::Tls(t) => Stream::Tls(TlsStream {
                plain: t.plain.try_clone().map_err(|e| WireError::io(context(), e))?,
                failure: t.failure.clone(),
                local: t.local,
                loopback: t.loopback,
            }),
        };
        Ok(Connection { stream, peer: self.peer.clone() })
    }

    /// Closes both directions; a thread blocked reading the other handle wakes with an error.
    pub fn shutdown(&self) {
        let _ = match &self.stream {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tls(t) => t.plain.shutdown(Shutdown::Both),
        };
    }

    /// Closes the sending direction only: the peer reads end of stream, and this side can
    /// still read its answer.
    pub fn shutdown_write(&self) {
        let _ = match &self.stream {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tls(t) => t.plain.shutdown(Shutdown::Write),
        };
    }

    /// Sends what the socket takes of `slices` now, never waiting (one `sendmsg` with
    /// `MSG_DONTWAIT`, whatever the socket's blocking mode): `WouldBlock` if it takes
    /// nothing. Broken connections are errors, not signals (`MSG_NOSIGNAL`).
    pub fn send_now(&self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(t) => t.plain.as_raw_fd(),
        };
        // SAFETY: an `IoSlice` has the layout of an `iovec` (std guarantees it on Unix);
        // the header points at `slices`, which outlive the call; `fd` is this stream's.
        let sent = unsafe {
            let mut header: libc::msghdr = std::mem::zeroed();
            header.msg_iov = slices.as_ptr() as *mut libc::iovec;
            header.msg_iovlen = slices.len().min(1024) as _;
            libc::sendmsg(fd, &header, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if sent < 0 { Err(io::Error::last_os_error()) } else { Ok(sent as usize) }
    }

    /// Sets a read timeout (`None` blocks forever).
    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), WireError> {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tls(t) => t.plain.set_read_timeout(timeout),
        }
        .map_err(|e| WireError::io(format!("cannot set a timeout on {}", self.peer), e))
    }

    /// Sets a write timeout (`None` blocks forever): a write that can send nothing for
    /// that long fails with `WouldBlock`. It holds for every handle on the stream.
    pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), WireError> {
        match &self.stream {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Unix(s) => s.set_write_timeout(timeout),
            Stream::Tls(t) => t.plain.set_write_timeout(timeout),
        }
        .map_err(|e| WireError::io(format!("cannot set a timeout on {}", self.peer), e))
    }
}

/// How long a TCP connect may take before it is an error (a host that silently drops
/// packets would otherwise hold the caller for the system's timeout, minutes).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to the first of `hostport`'s addresses that answers within [`CONNECT_TIMEOUT`].
fn connect_tcp(hostport: &str) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{hostport} resolves to no address"));
    for address in hostport.to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl super::ReadUninit for Connection {
    fn read_uninit<'a>(&mut self, buf: &'a mut [std::mem::MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        use std::os::fd::AsRawFd;
        match &mut self.stream {
            Stream::Tcp(s) => super::uninit::read_fd(s.as_raw_fd(), buf),
            Stream::Unix(s) => super::uninit::read_fd(s.as_raw_fd(), buf),
            Stream::Tls(_) => {
                let buf = super::uninit::zeroed(buf);
                let n = self.read(buf)?;
                Ok(&mut buf[..n])
            }
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(t) => match t.plain.read(buf) {
                Ok(0) if !buf.is_empty() => t.ended(),
                Err(e) => t.broken(e),
                other => other,
            },
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(t) => t.plain.write(buf).or_else(|e| t.broken(e)),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tls(t) => t.plain.write_vectored(bufs).or_else(|e| t.broken(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
