//! A real authoritative DNS server (NLnet Labs `nsd`) serving a small TLD zone.
//!
//! Each [`Nsd`] runs its own `nsd -d` on 127.0.0.1 (or another loopback
//! address, `::1` included: [`Nsd::start_on`]) with a free port and a
//! generated configuration in a temporary directory (no chroot, no user
//! switch, no database, response rate limiting off so tests and benchmarks
//! measure the checker, not nsd's limiter). The zone is rewritten and
//! reloaded through `nsd-control` over a Unix socket, and every change waits
//! until nsd serves the new serial, so tests can change delegations (a domain
//! "drops") and check right away.
//!
//! [`TldServers`] runs several of them serving the same zone, the way every
//! real TLD has 2–13 authoritative servers: a checker that rotates over them
//! must give the same answers whichever one it asks.
//!
//! Zones can be signed ([`Zone::signed`]) with keys made by ldns
//! ([`Keys`]: `ldns-keygen`, `ldns-key2ds`, `ldns-signzone`), offline and
//! with any validity window, expired ones included; nsd serves the signed
//! file as it is (it does not sign).
//!
//! Install: `apt-get install -y nsd ldnsutils`. Without them the tests fail,
//! they never skip.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RData, RecordType},
};

const NSD: &str = "/usr/sbin/nsd";
const NSD_CONTROL: &str = "/usr/sbin/nsd-control";
const INSTALL: &str = "install nsd: apt-get install -y nsd";
const LDNS_INSTALL: &str = "install ldnsutils: apt-get install -y ldnsutils";
/// The TLD's own name servers, `<label>.nic.<tld>`, listed at the zone apex.
const APEX_SERVERS: [&str; 2] = ["ns1", "ns2"];

/// The contents of a served zone (a TLD's, or a domain's own).
#[derive(Debug, Clone)]
pub struct Zone {
    tld: String,
    serial: u32,
    /// The zone's own name servers (its apex NS set), full names.
    apex: Vec<String>,
    /// Delegated names (relative to nothing: full names) → their NS targets.
    delegations: BTreeMap<String, Vec<String>>,
    /// Names with address records in the TLD zone itself (glue, web hosts).
    addresses: BTreeMap<String, Vec<IpAddr>>,
    /// DS records (their data, `tag alg digest-type digest`) of delegated
    /// names.
    ds: BTreeMap<String, Vec<String>>,
    /// TXT records (full names → each record's one string, unquoted).
    txt: BTreeMap<String, Vec<String>>,
    /// Signed with these keys in this window when set.
    signing: Option<(Keys, Validity)>,
}

/// The DNSSEC keys of one zone, made by `ldns-keygen`: a KSK and a ZSK
/// (ECDSA P-256, algorithm 13). Cheap to clone; the files live until the
/// last clone goes.
#[derive(Debug, Clone)]
pub struct Keys {
    dir: Arc<tempfile::TempDir>,
    /// The zone, fully qualified (`secure.test.`, `.`).
    origin: String,
    /// Base names (`K<zone>+013+<tag>`) in `dir`.
    ksk: String,
    zsk: String,
}

impl Keys {
    /// A fresh KSK and ZSK for `zone` (`secure.test`, or `.` for the root).
    pub fn generate(zone: &str) -> Self {
        let origin = fqdn(zone);
        let dir = tempfile::tempdir().expect("temporary directory for keys");
        let keygen = |ksk: bool| {
            let mut command = Command::new("ldns-keygen");
            command
                .current_dir(dir.path())
                .args(["-a", "ECDSAP256SHA256"]);
            if ksk {
                command.arg("-k");
            }
            let output = command
                .arg(&origin)
                .output()
                .unwrap_or_else(|e| panic!("cannot run ldns-keygen ({e}): {LDNS_INSTALL}"));
            assert!(
                output.status.success(),
                "ldns-keygen failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        let ksk = keygen(true);
        let zsk = keygen(false);
        Self {
            dir: Arc::new(dir),
            origin,
            ksk,
            zsk,
        }
    }

    /// The DS data of the KSK, SHA-256 (`tag 13 2 <hex>`), as the parent
    /// publishes it.
    pub fn ds(&self) -> String {
        let output = Command::new("ldns-key2ds")
            .current_dir(self.dir.path())
            .args(["-n", "-2"])
            .arg(format!("{}.key", self.ksk))
            .output()
            .unwrap_or_else(|e| panic!("cannot run ldns-key2ds ({e}): {LDNS_INSTALL}"));
        assert!(output.status.success(), "ldns-key2ds failed");
        let line = String::from_utf8_lossy(&output.stdout).to_string();
        // `<owner> <ttl> IN DS <tag> <alg> <type> <digest>`
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields
            .iter()
            .position(|f| *f == "DS")
            .unwrap_or_else(|| panic!("no DS in {line:?}"));
        fields[at + 1..].join(" ")
    }

    /// The KSK's DNSKEY record, one zone-file line: a trust anchor.
    pub fn ksk_dnskey(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.key", self.ksk)))
            .expect("read the KSK")
    }

    /// The KSK's key tag.
    pub fn ksk_tag(&self) -> u16 {
        self.ksk
            .rsplit('+')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("a key tag in the key's name")
    }

    /// `text` (a zone file of this zone) signed in `validity`.
    fn sign(&self, text: &str, validity: &Validity) -> String {
        let unsigned = tempfile::NamedTempFile::new_in(self.dir.path()).expect("zone file");
        std::fs::write(unsigned.path(), text).expect("write the zone");
        let signed = unsigned.path().with_extension("signed");
        let mut command = Command::new("ldns-signzone");
        command.current_dir(self.dir.path());
        if let Some(inception) = validity.inception {
            command.args(["-i", &inception.to_string()]);
        }
        if let Some(expiration) = validity.expiration {
            command.args(["-e", &expiration.to_string()]);
        }
        let output = command
            .arg("-f")
            .arg(&signed)
            .args(["-o", &self.origin])
            .arg(unsigned.path())
            .args([&self.ksk, &self.zsk])
            .output()
            .unwrap_or_else(|e| panic!("cannot run ldns-signzone ({e}): {LDNS_INSTALL}"));
        assert!(
            output.status.success(),
            "ldns-signzone failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&signed).expect("read the signed zone");
        let _ = std::fs::remove_file(&signed);
        text
    }
}

/// When a zone's signatures are valid, Unix seconds; `None`: ldns's
/// default (inception now, expiration four weeks on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    /// Inception.
    pub inception: Option<u64>,
    /// Expiration.
    pub expiration: Option<u64>,
}

impl Validity {
    /// From an hour ago until `expiration`.
    pub fn until(expiration: u64) -> Self {
        Self {
            inception: Some(now_unix() - 3600),
            expiration: Some(expiration),
        }
    }

    /// From `inception` until `expiration`.
    pub fn between(inception: u64, expiration: u64) -> Self {
        Self {
            inception: Some(inception),
            expiration: Some(expiration),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `zone` with a trailing dot (`.` stays `.`).
fn fqdn(zone: &str) -> String {
    if zone.is_empty() || zone == "." {
        ".".to_owned()
    } else {
        format!("{}.", zone.trim_end_matches('.'))
    }
}

impl Zone {
    /// An empty zone for `tld` (e.g. `test`), served by `ns1.nic.<tld>` and
    /// `ns2.nic.<tld>` (both at 127.0.0.1).
    pub fn new(tld: &str) -> Self {
        let mut zone = Self {
            tld: tld.to_owned(),
            serial: 1,
            apex: APEX_SERVERS
                .iter()
                .map(|server| format!("{server}.nic.{tld}"))
                .collect(),
            delegations: BTreeMap::new(),
            addresses: BTreeMap::new(),
            ds: BTreeMap::new(),
            txt: BTreeMap::new(),
            signing: None,
        };
        for server in APEX_SERVERS {
            zone.addresses.insert(
                format!("{server}.nic.{tld}"),
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            );
        }
        zone
    }

    /// The zone most tests use, under `test.`:
    /// - `registered.test` delegated to `ns1.registered.test` (with glue) and
    ///   `ns2.elsewhere.example`;
    /// - `second.test` delegated to `ns.elsewhere.example`;
    /// - `web.test` and `redirect.test` with `A 127.0.0.1` (for HTTP tests);
    /// - everything else NXDOMAIN (e.g. `unregistered.test`).
    pub fn standard() -> Self {
        Self::new("test")
            .delegate(
                "registered.test",
                &["ns1.registered.test", "ns2.elsewhere.example"],
            )
            .address("ns1.registered.test", "192.0.2.1".parse().unwrap())
            .delegate("second.test", &["ns.elsewhere.example"])
            .address("web.test", IpAddr::V4(Ipv4Addr::LOCALHOST))
            .address("redirect.test", IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A domain's own zone `name`, served by `nameservers` (its apex NS
    /// set), without other records.
    pub fn child(name: &str, nameservers: &[&str]) -> Self {
        Self {
            tld: name.to_owned(),
            serial: 1,
            apex: nameservers.iter().map(|s| (*s).to_owned()).collect(),
            delegations: BTreeMap::new(),
            addresses: BTreeMap::new(),
            ds: BTreeMap::new(),
            txt: BTreeMap::new(),
            signing: None,
        }
    }

    /// The root zone `.`, served by `nameservers` (its apex NS set).
    pub fn root(nameservers: &[&str]) -> Self {
        Self::child(".", nameservers)
    }

    /// The zone signed with `keys` (whose DNSKEYs it then carries) in
    /// `validity`, on every render: a change re-signs it.
    pub fn signed(mut self, keys: &Keys, validity: Validity) -> Self {
        self.signing = Some((keys.clone(), validity));
        self
    }

    /// Adds a DS record (`tag alg digest-type digest`, e.g. from
    /// [`Keys::ds`]) for the delegated `name`.
    pub fn ds(mut self, name: &str, data: &str) -> Self {
        self.ds
            .entry(name.to_owned())
            .or_default()
            .push(data.to_owned());
        self
    }

    /// Removes the DS records of `name`.
    pub fn without_ds(mut self, name: &str) -> Self {
        self.ds.remove(name);
        self
    }

    /// The zone's name, fully qualified (`test.`, `.`).
    fn origin(&self) -> String {
        fqdn(&self.tld)
    }

    /// Adds a delegation of `name` to `nameservers`.
    pub fn delegate(mut self, name: &str, nameservers: &[&str]) -> Self {
        self.delegations.insert(
            name.to_owned(),
            nameservers.iter().map(|s| (*s).to_owned()).collect(),
        );
        self
    }

    /// Adds an address record for `name` in the TLD zone.
    pub fn address(mut self, name: &str, ip: IpAddr) -> Self {
        self.addresses.entry(name.to_owned()).or_default().push(ip);
        self
    }

    /// Replaces the address records of `name` with `ips` (none: removes
    /// the name), for [`Nsd::change`].
    pub fn set_addresses(&mut self, name: &str, ips: &[IpAddr]) {
        if ips.is_empty() {
            self.addresses.remove(name);
        } else {
            self.addresses.insert(name.to_owned(), ips.to_vec());
        }
    }

    /// Replaces the TXT records of `name` with one record per string of
    /// `values` (none: removes them), for [`Nsd::change`]. Strings are
    /// written quoted; they must not hold `"` or `\`.
    pub fn set_txt(&mut self, name: &str, values: &[&str]) {
        if values.is_empty() {
            self.txt.remove(name);
        } else {
            self.txt.insert(
                name.to_owned(),
                values.iter().map(|v| (*v).to_owned()).collect(),
            );
        }
    }

    /// The zone file text.
    fn render(&self) -> String {
        let origin = self.origin();
        let suffix = origin.trim_start_matches('.');
        let mut text = format!(
            "$ORIGIN {origin}\n$TTL 300\n\
             @ IN SOA ns1.nic.{suffix} hostmaster.nic.{suffix} {} 3600 600 86400 300\n",
            self.serial
        );
        for server in &self.apex {
            let _ = writeln!(text, "@ IN NS {server}.");
        }
        for (name, targets) in &self.delegations {
            for target in targets {
                let _ = writeln!(text, "{name}. IN NS {target}.");
            }
        }
        for (name, ips) in &self.addresses {
            for ip in ips {
                let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
                let _ = writeln!(text, "{name}. IN {kind} {ip}");
            }
        }
        for (name, values) in &self.txt {
            for value in values {
                let _ = writeln!(text, "{name}. IN TXT \"{value}\"");
            }
        }
        for (name, records) in &self.ds {
            for data in records {
                let _ = writeln!(text, "{name}. IN DS {data}");
            }
        }
        match &self.signing {
            Some((keys, validity)) => keys.sign(&text, validity),
            None => text,
        }
    }
}

/// A running nsd. Killed when dropped.
pub struct Nsd {
    dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
    zone: Mutex<Zone>,
}

impl Nsd {
    /// Starts nsd serving `zone` on 127.0.0.1 and waits until it answers.
    pub fn start(zone: Zone) -> Self {
        Self::start_on(zone, &[], IpAddr::V4(Ipv4Addr::LOCALHOST), None)
    }

    /// Starts nsd on `ip` (any loopback address: 127.0.0.2 works without
    /// set-up on Linux; `::1` for an IPv6-only server) and `port` (a free
    /// one on `ip` when `None`), serving `zone`
    /// (the one [`Nsd::change`] edits) and `also` (fixed), and waits until
    /// it answers for each.
    pub fn start_on(zone: Zone, also: &[Zone], ip: IpAddr, port: Option<u16>) -> Self {
        assert!(Path::new(NSD).exists(), "{NSD} not found: {INSTALL}");
        assert!(
            Path::new(NSD_CONTROL).exists(),
            "{NSD_CONTROL} not found: {INSTALL}"
        );
        // A free port can be taken by someone else before nsd binds it: retry.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temporary directory for nsd");
            let port = port.unwrap_or_else(|| free_port_on(&[ip]));
            let addr = SocketAddr::new(ip, port);
            let names: Vec<String> = std::iter::once(&zone)
                .chain(also)
                .map(Zone::origin)
                .collect();
            write_config(dir.path(), addr, &names);
            std::fs::write(dir.path().join("zone"), zone.render()).expect("write zone file");
            for (i, extra) in also.iter().enumerate() {
                std::fs::write(dir.path().join(format!("zone{}", i + 1)), extra.render())
                    .expect("write zone file");
            }
            let child = Command::new(NSD)
                .arg("-d")
                .arg("-c")
                .arg(dir.path().join("nsd.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {NSD} ({e}): {INSTALL}"));
            let mut nsd = Self {
                dir,
                child,
                addr,
                zone: Mutex::new(zone.clone()),
            };
            if nsd.wait_for_serial(zone.serial, Duration::from_secs(10))
                && also
                    .iter()
                    .all(|z| nsd.soa_serial(&z.origin()) == Some(z.serial))
            {
                return nsd;
            }
            last_log = nsd.log();
            let _ = nsd.child.kill();
        }
        panic!("nsd did not start; its log:\n{last_log}");
    }

    /// Starts nsd with [`Zone::standard`].
    pub fn standard() -> Self {
        Self::start(Zone::standard())
    }

    /// The UDP and TCP address nsd listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Removes the delegation of `name` (the domain "drops": NXDOMAIN from now on).
    pub fn remove_delegation(&self, name: &str) {
        self.change(|zone| {
            assert!(
                zone.delegations.remove(name).is_some(),
                "{name} is not delegated in the test zone"
            );
        });
    }

    /// Adds or replaces the delegation of `name`.
    pub fn add_delegation(&self, name: &str, nameservers: &[&str]) {
        self.change(|zone| {
            zone.delegations.insert(
                name.to_owned(),
                nameservers.iter().map(|s| (*s).to_owned()).collect(),
            );
        });
    }

    /// Applies `edit` to the zone, reloads nsd and waits until it serves the
    /// new version.
    pub fn change(&self, edit: impl FnOnce(&mut Zone)) {
        let serial = {
            let mut zone = self.zone.lock().unwrap();
            edit(&mut zone);
            zone.serial += 1;
            std::fs::write(self.dir.path().join("zone"), zone.render()).expect("write zone file");
            zone.serial
        };
        let output = Command::new(NSD_CONTROL)
            .arg("-c")
            .arg(self.dir.path().join("nsd.conf"))
            .arg("reload")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {NSD_CONTROL} ({e}): {INSTALL}"));
        assert!(
            output.status.success(),
            "nsd-control reload failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            self.wait_for_serial(serial, Duration::from_secs(10)),
            "nsd did not load zone serial {serial}; its log:\n{}",
            self.log()
        );
    }

    /// Polls the zone's SOA until it has `serial` in ten answers in a row:
    /// during a reload the old server process may still answer a query or
    /// two with the old zone after the new one has started.
    /// Stops nsd (`nsd-control stop`) and waits until it no longer answers:
    /// whoever asks it from now on times out.
    pub fn stop(&self) {
        let output = Command::new(NSD_CONTROL)
            .arg("-c")
            .arg(self.dir.path().join("nsd.conf"))
            .arg("stop")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {NSD_CONTROL} ({e}): {INSTALL}"));
        assert!(
            output.status.success(),
            "nsd-control stop failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let origin = self.zone.lock().unwrap().origin();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.soa_serial(&origin).is_some() {
            assert!(Instant::now() < deadline, "nsd still answers after stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_serial(&self, serial: u32, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let origin = self.zone.lock().unwrap().origin();
        let mut in_a_row = 0;
        while Instant::now() < deadline {
            if self.soa_serial(&origin) == Some(serial) {
                in_a_row += 1;
                if in_a_row == 10 {
                    return true;
                }
            } else {
                in_a_row = 0;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The serial of the zone `origin` (fully qualified) as served.
    fn soa_serial(&self, origin: &str) -> Option<u32> {
        let answer = query(self.addr, origin, RecordType::SOA)?;
        answer.answers.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
    }

    /// How many NS queries nsd has answered since it started (its
    /// `num.type.NS` statistic): the dns checker asks only for NS records,
    /// readiness probes only for the SOA.
    pub fn ns_queries(&self) -> u64 {
        let output = Command::new(NSD_CONTROL)
            .arg("-c")
            .arg(self.dir.path().join("nsd.conf"))
            .arg("stats_noreset")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {NSD_CONTROL} ({e}): {INSTALL}"));
        let stats = String::from_utf8_lossy(&output.stdout);
        stats
            .lines()
            .find_map(|line| line.strip_prefix("num.type.NS="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no num.type.NS in nsd-control stats_noreset: {stats}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }

    /// The directory holding nsd's configuration, zone and log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// A TLD's authoritative servers: several nsd serving the same zone, each
/// on its own port. Changes reach every one of them before they return.
pub struct TldServers {
    servers: Vec<Nsd>,
}

impl TldServers {
    /// Starts `count` nsd serving `zone` and waits until each answers.
    pub fn start(zone: &Zone, count: usize) -> Self {
        Self::start_with(zone, &[], count)
    }

    /// Starts `count` nsd serving `zone` (the one [`TldServers::change`]
    /// edits) and `also` (fixed, e.g. the root zone above the TLD: nsd
    /// answers `DS <tld>` from the parent zone it also serves), and waits
    /// until each answers for all of them.
    pub fn start_with(zone: &Zone, also: &[Zone], count: usize) -> Self {
        assert!(count > 0, "a TLD needs at least one server");
        let servers = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..count)
                .map(|_| {
                    scope.spawn(|| {
                        Nsd::start_on(zone.clone(), also, IpAddr::V4(Ipv4Addr::LOCALHOST), None)
                    })
                })
                .collect();
            starting
                .into_iter()
                .map(|s| s.join().expect("start nsd"))
                .collect()
        });
        Self { servers }
    }

    /// Every server.
    pub fn servers(&self) -> &[Nsd] {
        &self.servers
    }

    /// Every server's address.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(Nsd::addr).collect()
    }

    /// The servers as `DNS_RESOLVERS` takes them: `ip:port,ip:port`.
    pub fn resolvers(&self) -> String {
        self.addrs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Stops every server ([`Nsd::stop`]): the TLD stops answering.
    pub fn stop(&self) {
        for nsd in &self.servers {
            nsd.stop();
        }
    }

    /// Each server's [`Nsd::ns_queries`], in the order of [`TldServers::addrs`].
    pub fn ns_queries(&self) -> Vec<u64> {
        self.servers.iter().map(Nsd::ns_queries).collect()
    }

    /// Removes the delegation of `name` on every server.
    pub fn remove_delegation(&self, name: &str) {
        for nsd in &self.servers {
            nsd.remove_delegation(name);
        }
    }

    /// Adds or replaces the delegation of `name` on every server.
    pub fn add_delegation(&self, name: &str, nameservers: &[&str]) {
        for nsd in &self.servers {
            nsd.add_delegation(name, nameservers);
        }
    }

    /// Applies `edit` to the zone of every server, one after the other (as
    /// a real zone change propagates), and waits until each serves it.
    pub fn change(&self, edit: impl Fn(&mut Zone)) {
        for nsd in &self.servers {
            nsd.change(&edit);
        }
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both UDP and TCP on each of `ips` (at the time of
/// asking): several servers on distinct loopback addresses and one port,
/// the way name servers all listen on port 53.
pub fn free_port_on(ips: &[IpAddr]) -> u16 {
    loop {
        let tcp = TcpListener::bind((ips[0], 0)).expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        let free = |ip: &IpAddr| {
            UdpSocket::bind((*ip, port)).is_ok()
                && (*ip == ips[0] || TcpListener::bind((*ip, port)).is_ok())
        };
        if ips.iter().all(free) {
            return port;
        }
    }
}

/// nsd's configuration: listening on `addr`, serving `zones` from the files
/// `zone` (the first), `zone1`, `zone2`…
fn write_config(dir: &Path, addr: SocketAddr, zones: &[String]) {
    let d = dir.display();
    let (ip, port) = (addr.ip(), addr.port());
    let yes = |on: bool| if on { "yes" } else { "no" };
    let (ip4, ip6) = (yes(ip.is_ipv4()), yes(ip.is_ipv6()));
    let mut config = format!(
        "server:\n\
         \x20   ip-address: {ip}@{port}\n\
         \x20   do-ip4: {ip4}\n\
         \x20   do-ip6: {ip6}\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   zonesdir: \"{d}\"\n\
         \x20   pidfile: \"{d}/nsd.pid\"\n\
         \x20   database: \"\"\n\
         \x20   xfrdfile: \"{d}/xfrd.state\"\n\
         \x20   xfrdir: \"{d}\"\n\
         \x20   zonelistfile: \"{d}/zone.list\"\n\
         \x20   logfile: \"{d}/nsd.log\"\n\
         \x20   rrl-ratelimit: 0\n\
         \x20   server-count: 1\n\
         \x20   verbosity: 1\n\
         remote-control:\n\
         \x20   control-enable: yes\n\
         \x20   control-interface: \"{d}/nsd.ctl\"\n"
    );
    for (i, zone) in zones.iter().enumerate() {
        let file = if i == 0 {
            "zone".to_owned()
        } else {
            format!("zone{i}")
        };
        let _ = write!(
            config,
            "zone:\n\
             \x20   name: \"{zone}\"\n\
             \x20   zonefile: \"{file}\"\n"
        );
    }
    std::fs::write(dir.join("nsd.conf"), config).expect("write nsd.conf");
}

/// One plain UDP query (blocking, 500 ms), for readiness checks, from a
/// socket of the server's address family.
pub fn query(server: SocketAddr, name: &str, kind: RecordType) -> Option<Message> {
    let local = if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).ok()?, kind));
    socket.send_to(&message.to_vec().ok()?, server).ok()?;
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).ok()?;
    Message::from_vec(&buffer[..len]).ok()
}

fn rand_id() -> u16 {
    // Each probe uses its own socket: distinct ids are all it needs.
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
