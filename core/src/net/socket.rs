use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How a connection's socket is set up.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Bind a source port below 1024 first. Many servers (ganesha and knfsd with `secure`) refuse
    /// others; without the privilege to bind one, the connection falls back to an ordinary port.
    pub reserved_port: bool,
    /// Local address to send from (multi-NIC hosts); the port is chosen as above.
    pub local_addr: Option<std::net::IpAddr>,
    /// Source port to try first: a reconnecting connection's old one, since servers know a
    /// client's duplicate request cache by its address and port. Held by another socket for
    /// longer than a moment, any port will do.
    pub local_port: Option<u16>,
    pub connect_timeout: Duration,
    /// A send that makes no progress for this long fails, since the server has stopped reading
    /// (SO_SNDTIMEO; a connection bounds its non-blocking sends the same way). `None` waits.
    pub send_timeout: Option<Duration>,
    /// SO_SNDBUF / SO_RCVBUF in bytes; `None` leaves the kernel's autotuning alone.
    pub send_buffer_bytes: Option<usize>,
    pub recv_buffer_bytes: Option<usize>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            reserved_port: true,
            local_addr: None,
            local_port: None,
            connect_timeout: Duration::from_secs(10),
            send_timeout: None,
            send_buffer_bytes: None,
            recv_buffer_bytes: None,
        }
    }
}

/// Lowest and highest source ports tried when a reserved port is wanted. Ports below 512 are left
/// to system services, as the BSD `bindresvport` does.
const RESERVED_PORT_LOW: u16 = 512;
const RESERVED_PORT_HIGH: u16 = 1023;
/// Connects retried on another reserved port when the chosen one is still tied to this server.
const MAX_RESERVED_CONNECT_ATTEMPTS: u32 = 16;
/// How long a reconnect keeps asking for its old source port while a socket holds it, and the
/// pause between tries: the old connection's socket lets go within a round trip of its reset
/// or close, while a port held for longer is not coming back.
const OLD_PORT_PATIENCE: Duration = Duration::from_millis(100);
const OLD_PORT_RETRY_PAUSE: Duration = Duration::from_millis(2);

/// Opens a TCP connection with TCP_NODELAY (RPCs are small and latency-bound) and the options above.
pub fn connect(addr: SocketAddr, opts: &SocketOptions) -> io::Result<TcpStream> {
    let local_ip = opts.local_addr.unwrap_or(match addr {
        SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    });
    if let Some(port) = opts.local_port {
        let patience = Instant::now() + OLD_PORT_PATIENCE;
        loop {
            let socket = new_socket(addr, opts)?;
            let held = match socket.bind(&SockAddr::from(SocketAddr::new(local_ip, port))) {
                Ok(()) => match socket.connect_timeout(&SockAddr::from(addr), opts.connect_timeout) {
                    Ok(()) => return Ok(socket.into()),
                    // Another socket holds this port towards the server.
                    Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => true,
                    Err(e) => return Err(e),
                },
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => true,
                // The local address is gone (a path taken down), or the port is reserved and no
                // longer ours to bind: waiting will not bring it back.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::AddrNotAvailable | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    false
                }
                Err(e) => return Err(e),
            };
            // Held, most likely by the broken connection's own socket on its way out (its reset
            // refused while a reader left, its FIN not yet answered), it is asked for again a
            // little longer; held beyond that (another socket, a TIME_WAIT towards this server),
            // any port will do.
            if !held || Instant::now() >= patience {
                break;
            }
            std::thread::sleep(OLD_PORT_RETRY_PAUSE);
        }
    }
    let mut privileged = opts.reserved_port;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let socket = new_socket(addr, opts)?;
        if privileged {
            match bind_reserved(&socket, local_ip) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    privileged = false;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else if opts.local_addr.is_some() {
            socket.bind(&SockAddr::from(SocketAddr::new(local_ip, 0)))?;
        }
        match socket.connect_timeout(&SockAddr::from(addr), opts.connect_timeout) {
            // Another socket may hold the same reserved port towards this server in TIME_WAIT.
            Err(e)
                if privileged
                    && attempts < MAX_RESERVED_CONNECT_ATTEMPTS
                    && e.kind() == io::ErrorKind::AddrNotAvailable =>
            {
                continue
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(socket.into()),
        }
    }
}

fn new_socket(addr: SocketAddr, opts: &SocketOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nodelay(true)?;
    socket.set_reuse_address(true)?;
    socket.set_write_timeout(opts.send_timeout.filter(|t| !t.is_zero()))?;
    if let Some(bytes) = opts.send_buffer_bytes {
        socket.set_send_buffer_size(bytes)?;
    }
    if let Some(bytes) = opts.recv_buffer_bytes {
        socket.set_recv_buffer_size(bytes)?;
    }
    Ok(socket)
}

fn bind_reserved(socket: &Socket, ip: std::net::IpAddr) -> io::Result<()> {
    let span = RESERVED_PORT_HIGH - RESERVED_PORT_LOW + 1;
    // Start from a spread-out point so concurrent connections don't all race for port 1023.
    let start = (std::process::id() as u16).wrapping_add(fastrand_seed()) % span;
    let mut last_err = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        let port = RESERVED_PORT_LOW + (start + i) % span;
        match socket.bind(&SockAddr::from(SocketAddr::new(ip, port))) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

fn fastrand_seed() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(97, Ordering::Relaxed)
}

/// Tries of the reset that a thread blocked in the socket refuses (EBUSY), and the pause
/// between them, while that thread leaves.
const RESET_TRIES: u32 = 20;
const RESET_RETRY_PAUSE: Duration = Duration::from_micros(500);

/// Ends a connection the client gives up on at once, while its descriptors stay open (other
/// threads still hold them): connect(2) to an AF_UNSPEC address resets it (RST) and leaves
/// the socket in no TCP state at all. A shutdown alone would send a FIN instead and leave the
/// socket in FIN_WAIT, or TIME_WAIT once the server closes too, holding the source port a
/// reconnect wants back (the server knows the client's duplicate request cache by it).
///
/// Linux (6.5 on) refuses the reset with EBUSY while a thread waits inside the socket (a
/// reader thread in recv(2)), so the read side is shut first, which wakes such a reader
/// without sending anything, and the reset is tried again while it leaves. A writer waiting
/// for buffer space is not woken by that; should the reset still be refused, or fail, the
/// full shutdown ends the connection with a FIN, and SO_LINGER 0 makes the last close a
/// reset. After a reset the shutdown sends nothing, but its mark stays and wakes every
/// reader and writer still blocked (the reset's one-off error may reach only one of them).
pub(crate) fn abort(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    let _ = stream.shutdown(Shutdown::Read);
    for _ in 0..RESET_TRIES {
        match reset(stream) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(RESET_RETRY_PAUSE),
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// connect(2) to an AF_UNSPEC address: the connection is reset and the socket left unconnected.
fn reset(stream: &TcpStream) -> io::Result<()> {
    let unspecified = libc::sockaddr { sa_family: libc::AF_UNSPEC as libc::sa_family_t, sa_data: [0; 14] };
    // SAFETY: `unspecified` is a whole `sockaddr` that lives across the call, and the length
    // passed is its size; the kernel only reads it. The descriptor is borrowed from `stream`,
    // so it stays open for the call.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            &unspecified,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
