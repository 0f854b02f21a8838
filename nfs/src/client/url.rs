//! `nfs://` URLs, compatible with libnfs's syntax:
//! `nfs://host[:port]/export/path?uid=&gid=&nfsport=&mountport=&rsize=&wsize=&...`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::Error;

/// Everything a URL says about how to reach and use a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Host as written in the URL, for messages and MOUNT's view of us.
    pub host: String,
    /// The server's addresses: the URL's host first, then `addrs=` (multipath).
    pub server_addrs: Vec<IpAddr>,
    /// Local addresses to send from, one per server path, cycled (`localaddrs=`).
    pub local_addrs: Vec<IpAddr>,
    /// The URL's path: export plus the directory inside it to start from.
    pub path: String,
    pub uid: u32,
    pub gid: u32,
    pub aux_gids: Vec<u32>,
    /// NFS port; `None` asks the portmapper.
    pub nfs_port: Option<u16>,
    /// MOUNT port; `None` asks the portmapper.
    pub mount_port: Option<u16>,
    /// Upper bounds for READ and WRITE sizes; FSINFO may lower them.
    pub rsize: u32,
    pub wsize: u32,
    /// TCP connections per server address.
    pub nconnect: usize,
    /// Of those, how many carry only metadata, so bulk IO never delays a create or a stat.
    pub mdconnect: usize,
    /// SO_SNDBUF / SO_RCVBUF for every connection; `None` leaves the kernel's autotuning.
    pub send_buffer_bytes: Option<usize>,
    pub recv_buffer_bytes: Option<usize>,
    /// RPCs in flight per connection.
    pub max_in_flight: usize,
    /// Receive buffers (each the largest READ reply) lent out and reserved at once, at most
    /// (`maxbuffers`); `None` is two per call slot, `2 × max_in_flight` per connection.
    pub max_buffers: Option<usize>,
    /// Per-try reply timeout (`timeo`, in tenths of a second as in nfs(5)).
    pub timeout: Duration,
    /// Re-sends before a soft mount gives up (`retrans`).
    pub retrans: u32,
    /// Retry for ever instead of failing (`hard`).
    pub hard: bool,
    /// Bind a source port below 1024 (`resvport`).
    pub reserved_port: bool,
    /// Lifetime of cached name-to-handle entries (`actimeo`, seconds).
    pub name_cache_ttl: Duration,
    /// No reader threads: a waiting caller reads replies itself (`rtc`), the lowest CPU and
    /// latency when one thread drives the client, typically through a batch. Takes precedence
    /// over `backend`.
    pub run_to_completion: bool,
    /// Who receives replies on the NFS connections (`backend`).
    pub receive_backend: ReceiveBackend,
    /// Event loop threads of the receive reactor (`rings`); `None` is one per CPU. Never more
    /// than the NFS connections.
    pub rings: Option<usize>,
    /// The event loops also send (`submit=ring`): callers copy their requests into their
    /// connection's outbox and its loop sends what has gathered with one operation; WRITEs go
    /// from the caller's memory, in their turn, never copied. Otherwise
    /// (`submit=caller`) each caller writes its own with one writev. Only with event loops:
    /// `rtc=1` and `backend=threads` take precedence.
    pub ring_sends: bool,
    /// Keep a copy of UNSTABLE writes until COMMIT covers them, to send again after a server
    /// restart (`safewrites`, on by default).
    pub safe_writes: bool,
    /// Uncommitted bytes kept per file before a write commits first (`maxunstable`, bytes).
    pub max_unstable_bytes: usize,
}

/// Who reads replies off the NFS connections (`backend=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveBackend {
    /// Per-core event loops on io_uring, or on epoll where io_uring is unavailable.
    #[default]
    Auto,
    /// Event loops on io_uring; mounting fails where the kernel refuses io_uring.
    Uring,
    /// Event loops on epoll.
    Epoll,
    /// A reader thread per connection.
    Threads,
}

pub const DEFAULT_IO_SIZE: u32 = 1 << 20;
pub const MAX_NCONNECT: usize = 64;
pub const MAX_IN_FLIGHT: usize = 1024;
/// Most receive buffers one client may lend out and reserve at once (`maxbuffers`).
pub const MAX_BUFFERS: usize = 1 << 16;

/// Most receive event loop threads one client runs (`rings`).
pub const MAX_RINGS: usize = 256;

impl MountOptions {
    fn defaults(host: String, path: String) -> MountOptions {
        MountOptions {
            host,
            server_addrs: Vec::new(),
            local_addrs: Vec::new(),
            path,
            uid: 0,
            gid: 0,
            aux_gids: Vec::new(),
            nfs_port: None,
            mount_port: None,
            rsize: DEFAULT_IO_SIZE,
            wsize: DEFAULT_IO_SIZE,
            nconnect: 1,
            mdconnect: 0,
            send_buffer_bytes: None,
            recv_buffer_bytes: None,
            max_in_flight: 128,
            max_buffers: None,
            timeout: Duration::from_secs(10),
            retrans: 3,
            hard: false,
            reserved_port: true,
            name_cache_ttl: Duration::from_secs(3),
            run_to_completion: false,
            receive_backend: ReceiveBackend::default(),
            rings: None,
            ring_sends: false,
            safe_writes: true,
            max_unstable_bytes: 64 << 20,
        }
    }

    /// Parses a URL. Unknown options are refused, so a typo never silently changes behaviour.
    pub fn parse(url: &str) -> Result<MountOptions, Error> {
        let bad = |why: String| Error::Url(format!("{url}: {why}"));
        let rest = url.strip_prefix("nfs://").ok_or_else(|| bad("must start with nfs://".into()))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match location.find('/') {
            Some(i) => location.split_at(i),
            None => (location, "/"),
        };
        let (host, port) = split_host_port(authority).map_err(bad)?;
        if host.is_empty() {
            return Err(bad("no server named".into()));
        }
        let path = percent_decode(path).map_err(bad)?;
        let mut opts = MountOptions::defaults(host.to_string(), path);
        opts.nfs_port = port;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            opts.apply(key, value).map_err(bad)?;
        }
        opts.server_addrs.insert(0, resolve(host).map_err(bad)?);
        opts.server_addrs.dedup();
        Ok(opts)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value.parse().map_err(|_| format!("option {key}={value:?} is not a valid number"))
        }
        fn flag(key: &str, value: &str) -> Result<bool, String> {
            match value {
                "" | "1" | "yes" | "true" => Ok(true),
                "0" | "no" | "false" => Ok(false),
                _ => Err(format!("option {key}={value:?} must be 0 or 1")),
            }
        }
        match key {
            "uid" => self.uid = num(key, value)?,
            "gid" => self.gid = num(key, value)?,
            "gids" | "auxgids" => {
                self.aux_gids = value.split(',').map(|g| num(key, g)).collect::<Result<_, _>>()?;
                if self.aux_gids.len() > crate::rpc::MAX_GIDS {
                    return Err(format!("at most {} auxiliary gids", crate::rpc::MAX_GIDS));
                }
            }
            "nfsport" => self.nfs_port = Some(num(key, value)?),
            "mountport" => self.mount_port = Some(num(key, value)?),
            "rsize" => self.rsize = io_size(key, value)?,
            "wsize" => self.wsize = io_size(key, value)?,
            "nconnect" => {
                self.nconnect = num(key, value)?;
                if !(1..=MAX_NCONNECT).contains(&self.nconnect) {
                    return Err(format!("nconnect must be 1..={MAX_NCONNECT}"));
                }
            }
            "mdconnect" => {
                self.mdconnect = num(key, value)?;
                if self.mdconnect >= MAX_NCONNECT {
                    return Err(format!("mdconnect must be below {MAX_NCONNECT}"));
                }
            }
            "sndbuf" => self.send_buffer_bytes = Some(socket_buffer(key, value)?),
            "rcvbuf" => self.recv_buffer_bytes = Some(socket_buffer(key, value)?),
            "maxinflight" => {
                self.max_in_flight = num(key, value)?;
                if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
                    return Err(format!("maxinflight must be 1..={MAX_IN_FLIGHT}"));
                }
            }
            "maxbuffers" => {
                let buffers = num(key, value)?;
                if !(1..=MAX_BUFFERS).contains(&buffers) {
                    return Err(format!("maxbuffers must be 1..={MAX_BUFFERS}"));
                }
                self.max_buffers = Some(buffers);
            }
            "addrs" => {
                for addr in value.split(',').filter(|a| !a.is_empty()) {
                    self.server_addrs.push(resolve(addr)?);
                }
            }
            "localaddrs" => {
                for addr in value.split(',').filter(|a| !a.is_empty()) {
                    self.local_addrs.push(
                        addr.parse().map_err(|_| format!("localaddrs: {addr:?} is not an IP address"))?,
                    );
                }
            }
            "timeo" => {
                let tenths: u64 = num(key, value)?;
                if tenths == 0 {
                    return Err("timeo must be at least 1 (a tenth of a second)".into());
                }
                self.timeout = Duration::from_millis(tenths * 100);
            }
            "retrans" => self.retrans = num(key, value)?,
            "hard" => self.hard = flag(key, value)?,
            "soft" => self.hard = !flag(key, value)?,
            "resvport" => self.reserved_port = flag(key, value)?,
            "rtc" => self.run_to_completion = flag(key, value)?,
            "backend" => {
                self.receive_backend = match value {
                    "auto" => ReceiveBackend::Auto,
                    "uring" | "io_uring" => ReceiveBackend::Uring,
                    "epoll" => ReceiveBackend::Epoll,
                    "threads" => ReceiveBackend::Threads,
                    _ => return Err(format!("backend must be auto, uring, epoll or threads, not {value:?}")),
                }
            }
            "rings" => {
                let rings = num(key, value)?;
                if !(1..=MAX_RINGS).contains(&rings) {
                    return Err(format!("rings must be 1..={MAX_RINGS}"));
                }
                self.rings = Some(rings);
            }
            "submit" => {
                self.ring_sends = match value {
                    "caller" => false,
                    "ring" => true,
                    _ => return Err(format!("submit must be caller or ring, not {value:?}")),
                }
            }
            "safewrites" => self.safe_writes = flag(key, value)?,
            "maxunstable" => {
                self.max_unstable_bytes = num(key, value)?;
                if self.max_unstable_bytes < 1 << 20 {
                    return Err("maxunstable must be at least 1 MiB (1048576)".into());
                }
            }
            "noresvport" => self.reserved_port = !flag(key, value)?,
            "actimeo" => self.name_cache_ttl = Duration::from_secs(num(key, value)?),
            "version" if value == "3" => {}
            "version" => return Err(format!("only NFS version 3 is supported, not {value:?}")),
            _ => return Err(format!("unknown option {key:?}")),
        }
        Ok(())
    }
}

fn socket_buffer(key: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(bytes) if (4096..=1 << 30).contains(&bytes) => Ok(bytes),
        _ => Err(format!("{key} must be a byte count between 4096 and 1 GiB")),
    }
}

fn io_size(key: &str, value: &str) -> Result<u32, String> {
    let size: u32 = value.parse().map_err(|_| format!("option {key}={value:?} is not a valid number"))?;
    if !(4096..=crate::proto::nfs3::MAX_DATA_LEN as u32).contains(&size) {
        return Err(format!("{key} must be between 4096 and {}", crate::proto::nfs3::MAX_DATA_LEN));
    }
    Ok(size)
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?}"));
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed [ in IPv6 address")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(parse_port(p)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected {after:?} after the address")),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(parse_port(p)?))),
        None => Ok((authority, None)),
    }
}

fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.trim_matches(|c| c == '[' || c == ']').parse() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .map(|a: SocketAddr| a.ip())
        .next()
        .ok_or_else(|| format!("{host:?} has no address"))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape %{hex}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "path is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_url() {
        let o = MountOptions::parse(
            "nfs://127.0.0.1:2050/vfs/a%20b?uid=5&gid=6&mountport=20048&rsize=65536&wsize=131072&nconnect=4&addrs=127.0.0.2,127.0.0.3&localaddrs=127.0.0.1&timeo=5&retrans=2&hard=1&resvport=0&mdconnect=2&sndbuf=1048576&rcvbuf=2097152&rtc=1&backend=epoll&rings=3",
        )
        .unwrap();
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!((o.run_to_completion, o.receive_backend, o.rings), (true, ReceiveBackend::Epoll, Some(3)));
        assert_eq!(
            (o.mdconnect, o.send_buffer_bytes, o.recv_buffer_bytes),
            (2, Some(1 << 20), Some(2 << 20))
        );
        assert_eq!(o.path, "/vfs/a b");
        assert_eq!((o.uid, o.gid), (5, 6));
        assert_eq!((o.nfs_port, o.mount_port), (Some(2050), Some(20048)));
        assert_eq!((o.rsize, o.wsize, o.nconnect), (65536, 131072, 4));
        let addrs: Vec<IpAddr> =
            ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(o.server_addrs, addrs);
        assert_eq!(o.local_addrs, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            (o.timeout, o.retrans, o.hard, o.reserved_port),
            (Duration::from_millis(500), 2, true, false)
        );
    }

    #[test]
    fn ipv6_hosts_and_defaults() {
        let o = MountOptions::parse("nfs://[::1]/export").unwrap();
        assert_eq!(o.server_addrs, vec!["::1".parse::<IpAddr>().unwrap()]);
        assert_eq!((o.path.as_str(), o.nfs_port, o.nconnect, o.rsize), ("/export", None, 1, DEFAULT_IO_SIZE));
        assert_eq!(MountOptions::parse("nfs://[::1]:20/x").unwrap().nfs_port, Some(20));
    }

    #[test]
    fn receive_backends() {
        let backend =
            |q: &str| MountOptions::parse(&format!("nfs://127.0.0.1/x?{q}")).unwrap().receive_backend;
        assert_eq!(backend(""), ReceiveBackend::default());
        assert_eq!(backend("backend=auto"), ReceiveBackend::Auto);
        assert_eq!(backend("backend=uring"), ReceiveBackend::Uring);
        assert_eq!(backend("backend=io_uring"), ReceiveBackend::Uring);
        assert_eq!(backend("backend=epoll"), ReceiveBackend::Epoll);
        assert_eq!(backend("backend=threads"), ReceiveBackend::Threads);
        assert_eq!(MountOptions::parse("nfs://127.0.0.1/x").unwrap().rings, None);
        let ring_sends = |q: &str| MountOptions::parse(&format!("nfs://127.0.0.1/x?{q}")).unwrap().ring_sends;
        assert!(!ring_sends(""));
        assert!(!ring_sends("submit=caller"));
        assert!(ring_sends("submit=ring"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, needle) in [
            ("http://x/y", "nfs://"),
            ("nfs:///x", "no server"),
            ("nfs://h:99999/x", "bad port"),
            ("nfs://127.0.0.1/x?bogus=1", "unknown option \"bogus\""),
            ("nfs://127.0.0.1/x?nconnect=65", "nconnect"),
            ("nfs://127.0.0.1/x?submit=queue", "submit must be caller or ring"),
            ("nfs://127.0.0.1/x?mdconnect=64", "mdconnect"),
            ("nfs://127.0.0.1/x?sndbuf=12", "sndbuf"),
            ("nfs://127.0.0.1/x?rsize=12", "rsize"),
            ("nfs://127.0.0.1/x?uid=-1", "uid"),
            ("nfs://127.0.0.1/x?version=4", "version 3"),
            ("nfs://127.0.0.1/x?backend=kqueue", "backend must be auto, uring, epoll or threads"),
            ("nfs://127.0.0.1/x?rings=0", "rings must be 1..=256"),
            ("nfs://127.0.0.1/x?rings=257", "rings must be 1..=256"),
            ("nfs://127.0.0.1/x?rings=two", "rings=\"two\" is not a valid number"),
            ("nfs://127.0.0.1/%zz", "%-escape"),
            ("nfs://[::1/x", "unclosed"),
        ] {
            let err = MountOptions::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
