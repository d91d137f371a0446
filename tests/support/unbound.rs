//! Real recursive resolvers (NLnet Labs `unbound`) for resolver probes.
//!
//! Each [`Unbound`] runs its own `unbound -d` on a loopback address and a
//! free port, with a generated configuration in a temporary directory: stub
//! zones pointing at local authoritative servers (nsd, see
//! [`super::nsd`]), caches capped at [`CACHE_MAX_TTL`] seconds so that a
//! zone change reaches it quickly, the iterator module only (no DNSSEC
//! validation, no trust anchor), no root hints fetched (only the stub zone
//! is ever asked), no remote control, no chroot, no user switch.
//!
//! A resolver whose stub points at an address nothing listens on answers
//! `SERVFAIL` for the zone: the failing resolver of the tests.
//!
//! Install: `apt-get install -y unbound`. Without it the tests fail, they
//! never skip.

use std::{
    fmt::Write as _,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RecordType},
};

use super::nsd::free_port_on;

const UNBOUND: &str = "/usr/sbin/unbound";
const INSTALL: &str = "install unbound: apt-get install -y unbound";
/// The longest time (seconds) an answer stays in an instance's cache.
pub const CACHE_MAX_TTL: u32 = 1;

/// A running unbound. Killed when dropped.
pub struct Unbound {
    dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
}

impl Unbound {
    /// Starts unbound on `ip` (any 127.0.0.0/8 address) and a free port,
    /// resolving `zone` (e.g. `shop.test`) by asking `authoritative`, and
    /// waits until it answers the zone's SOA (or, for an authoritative
    /// nothing listens on, until it answers at all).
    pub fn start(ip: IpAddr, zone: &str, authoritative: SocketAddr) -> Self {
        Self::start_stubs(ip, &[(zone, &[authoritative])])
    }

    /// Starts unbound on `ip` and a free port with one stub zone per entry
    /// of `stubs`: the zone and the authoritative servers it asks (unbound
    /// picks among several), and waits until it answers the first zone's
    /// SOA (or, for an authoritative nothing listens on, answers at all).
    pub fn start_stubs(ip: IpAddr, stubs: &[(&str, &[SocketAddr])]) -> Self {
        let zone = stubs.first().expect("at least one stub zone").0;
        assert!(
            Path::new(UNBOUND).exists(),
            "{UNBOUND} not found: {INSTALL}"
        );
        let mut last_log = String::new();
        // A free port can be taken by someone else before unbound binds it.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temporary directory for unbound");
            let port = free_port_on(&[ip]);
            let addr = SocketAddr::new(ip, port);
            write_config(dir.path(), addr, stubs);
            let child = Command::new(UNBOUND)
                .arg("-d")
                .arg("-c")
                .arg(dir.path().join("unbound.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {UNBOUND} ({e}): {INSTALL}"));
            let mut unbound = Self { dir, child, addr };
            if unbound.wait_until_answering(zone, Duration::from_secs(10)) {
                return unbound;
            }
            last_log = unbound.log();
            let _ = unbound.child.kill();
        }
        panic!("unbound did not start; its log:\n{last_log}");
    }

    /// Its address and port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The response code and answers of `name kind`, asked with recursion
    /// (blocking, 3 s).
    pub fn ask(&self, name: &str, kind: RecordType) -> Option<Message> {
        recursive_query(self.addr, name, kind, Duration::from_secs(3))
    }

    fn wait_until_answering(&self, zone: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            let answer = recursive_query(
                self.addr,
                &format!("{zone}."),
                RecordType::SOA,
                Duration::from_millis(500),
            );
            if answer.is_some_and(|m| {
                matches!(
                    m.metadata.response_code,
                    ResponseCode::NoError | ResponseCode::ServFail
                )
            }) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// unbound's configuration (see the module docs).
fn write_config(dir: &Path, addr: SocketAddr, stubs: &[(&str, &[SocketAddr])]) {
    let d = dir.display();
    let (ip, port) = (addr.ip(), addr.port());
    let mut config = format!(
        "server:\n\
         \x20   interface: {ip}@{port}\n\
         \x20   port: {port}\n\
         \x20   do-ip6: no\n\
         \x20   do-daemonize: no\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   directory: \"{d}\"\n\
         \x20   pidfile: \"{d}/unbound.pid\"\n\
         \x20   logfile: \"{d}/unbound.log\"\n\
         \x20   use-syslog: no\n\
         \x20   verbosity: 1\n\
         \x20   num-threads: 1\n\
         \x20   so-reuseport: no\n\
         \x20   access-control: 127.0.0.0/8 allow\n\
         \x20   module-config: \"iterator\"\n\
         \x20   cache-max-ttl: {CACHE_MAX_TTL}\n\
         \x20   cache-max-negative-ttl: {CACHE_MAX_TTL}\n\
         \x20   infra-host-ttl: 1\n\
         \x20   qname-minimisation: no\n\
         \x20   prefetch: no\n\
         \x20   do-not-query-localhost: no\n\
         \x20   local-zone: \"test.\" nodefault\n\
         remote-control:\n\
         \x20   control-enable: no\n"
    );
    for (zone, servers) in stubs {
        let _ = write!(config, "stub-zone:\n    name: \"{zone}\"\n");
        for server in *servers {
            let _ = writeln!(config, "    stub-addr: {}@{}", server.ip(), server.port());
        }
    }
    std::fs::write(dir.join("unbound.conf"), config).expect("write unbound.conf");
}

/// One UDP query with RD=1 (blocking), as a stub resolver asks.
pub fn recursive_query(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    timeout: Duration,
) -> Option<Message> {
    let socket = UdpSocket::bind((server.ip(), 0)).ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    let mut message = Message::new(rand::random::<u16>(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).ok()?, kind));
    socket.send_to(&message.to_vec().ok()?, server).ok()?;
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).ok()?;
    Message::from_vec(&buffer[..len]).ok()
}
