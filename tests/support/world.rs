//! A small internet under `.test`, made of real servers on loopback: two nsd
//! serving the TLD zone (every real TLD has several authoritative servers,
//! and the dns checker rotates over them), rdap-srv for the registry's RDAP,
//! a WHOIS server, and one
//! HTTP stub acting as the user's domain API (`/domains`) and callback
//! receiver (`/callback`). Domains can be registered and dropped while an
//! operator runs against it.
//!
//! [`World::start_signed`] makes it a DNSSEC world: `test.` is signed, and
//! the same two servers also serve a signed root zone of its own (with the
//! DS of `test.`), so that `DNSKEY .` and `DS test.` asked of the servers in
//! `DNS_RESOLVERS` validate from [`World::trust_anchor`].

use std::{net::IpAddr, time::Duration};

use serde_json::json;

use super::{
    http_stub::{HttpStub, Recorded, Reply},
    nsd::{Keys, Nsd, TldServers, Validity, Zone},
    rdap_srv::{DomainSpec, RdapSrv},
    whois_server::{Reply as WhoisReply, WhoisServer},
};

/// The bearer token the operator sends to the callback receiver in tests.
pub const TOKEN: &str = "test-callback-token-7f3a";

/// How many authoritative servers serve `test.`.
pub const TLD_SERVERS: usize = 2;

/// The running servers.
pub struct World {
    /// Authoritative DNS for `test.`: [`TLD_SERVERS`] nsd serving one zone.
    pub nsd: TldServers,
    /// The registry's RDAP server.
    pub rdap: RdapSrv,
    /// The registry's WHOIS server.
    pub whois: WhoisServer,
    /// Domain API and callback receiver.
    pub api: HttpStub,
    /// The keys of the root and of `test.` when the world is signed
    /// ([`World::start_signed`]).
    pub signing: Option<Signing>,
}

/// The DNSSEC keys of a signed world.
pub struct Signing {
    /// The root zone's: its KSK is the trust anchor.
    pub root: Keys,
    /// `test.`'s: the root's DS names its KSK.
    pub tld: Keys,
}

/// How an owned domain is signed ([`World::register_owned_signed`]).
pub struct OwnedSigning<'a> {
    /// The keys its zone is signed with.
    pub keys: &'a Keys,
    /// The DS data the parent publishes (`tag alg digest-type digest`):
    /// `keys.ds()` for a secure delegation, another key's for a mismatch.
    pub ds: String,
}

/// A registered name's WHOIS record, as a thin registry's port 43 sends
/// it: registrar "Demo Registrar Inc.", created 2020-01-15, expiring
/// 2027-01-15, one EPP `status` (e.g. `clientHold`) and `nameservers`.
pub fn whois_record(name: &str, status: &str, nameservers: &[&str]) -> String {
    let servers: String = nameservers
        .iter()
        .map(|ns| format!("Name Server: {}\r\n", ns.to_ascii_uppercase()))
        .collect();
    format!(
        "Domain Name: {}\r\nRegistry Domain ID: D1-TEST\r\nRegistrar: Demo Registrar Inc.\r\n\
         Creation Date: 2020-01-15T10:00:00Z\r\nRegistry Expiry Date: 2027-01-15T10:00:00Z\r\n\
         Domain Status: {status} https://icann.org/epp#{status}\r\n{servers}\r\n",
        name.to_ascii_uppercase(),
    )
}

/// The registry's object of an owned, registry-locked domain.
fn owned_object(name: &str, nameservers: &[&str]) -> DomainSpec {
    let mut spec = DomainSpec::new(name).registrar("Demo Registrar Inc.");
    for ns in nameservers {
        spec = spec.nameserver(ns);
    }
    spec.status("active")
        .status("client transfer prohibited")
        .status("server transfer prohibited")
        .status("server update prohibited")
        .status("server delete prohibited")
        .created("2020-01-15T10:00:00Z")
        .expires("2027-01-15T10:00:00Z")
}

/// The registry's WHOIS answer for a name nobody holds.
pub fn whois_free(name: &str) -> String {
    format!(
        "No match for \"{}\".\r\n>>> Last update of WHOIS database: 2026-11-21T00:00:00Z <<<\r\n",
        name.to_ascii_uppercase()
    )
}

impl World {
    /// Starts every server with no domain registered.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// [`World::start`], with `test.` signed and a signed root zone of its
    /// own served beside it (see the module doc). Signatures are valid for
    /// ldns's default four weeks.
    pub async fn start_signed() -> Self {
        let signing = tokio::task::spawn_blocking(|| Signing {
            root: Keys::generate("."),
            tld: Keys::generate("test"),
        })
        .await
        .expect("generate keys");
        Self::start_with(Some(signing)).await
    }

    async fn start_with(signing: Option<Signing>) -> Self {
        let (zone, also) = match &signing {
            None => (Zone::new("test"), Vec::new()),
            Some(keys) => {
                let servers = ["ns1.nic.test", "ns2.nic.test"];
                let root = Zone::root(&servers)
                    .delegate("test", &servers)
                    .ds("test", &keys.tld.ds())
                    .signed(&keys.root, Validity::default());
                (
                    Zone::new("test").signed(&keys.tld, Validity::default()),
                    vec![root],
                )
            }
        };
        let nsd =
            tokio::task::spawn_blocking(move || TldServers::start_with(&zone, &also, TLD_SERVERS))
                .await
                .expect("start nsd");
        let rdap = RdapSrv::start().await;
        let whois = WhoisServer::start(Vec::<(String, WhoisReply)>::new()).await;
        let api = HttpStub::start().await;
        api.set("/callback", Reply::new(200));
        let world = Self {
            nsd,
            rdap,
            whois,
            api,
            signing,
        };
        world.set_domain_list(&json!({"domains": []}));
        world
    }

    /// Registers `name`: a delegation, an RDAP object and a WHOIS record.
    pub async fn register(&self, name: &str, status: &str) {
        let ns = format!("ns1.{name}");
        let zone_name = name.to_owned();
        let ns_for_zone = ns.clone();
        self.blocking(move |nsd| nsd.add_delegation(&zone_name, &[ns_for_zone.as_str()]))
            .await;
        self.rdap
            .add_domain(
                &DomainSpec::new(name)
                    .registrar("Demo Registrar Inc.")
                    .nameserver(&ns)
                    .status(status)
                    .created("2020-01-15T10:00:00Z")
                    .expires("2027-01-15T10:00:00Z"),
            )
            .await;
        self.whois.set(
            name,
            WhoisReply::text(whois_record(name, status, &[ns.as_str()])),
        );
    }

    /// Registers `name` the way an owner keeps it: registry-locked (the
    /// three `server*Prohibited` statuses), expiring on 2027-01-15, with
    /// `ns1.<name>` as its name server: glue at the parent and an nsd on
    /// `ip`:`port` serving the domain's own zone with authority (and the
    /// same address for `ns1.<name>`). The returned
    /// server runs until dropped.
    pub async fn register_owned(&self, name: &str, ip: IpAddr, port: u16) -> Nsd {
        self.register_owned_with(name, ip, port, None).await
    }

    /// [`World::register_owned`] with the domain's zone signed with
    /// `signing.keys` and `signing.ds` published at the parent (in a
    /// world started with [`World::start_signed`]).
    pub async fn register_owned_signed(
        &self,
        name: &str,
        ip: IpAddr,
        port: u16,
        signing: OwnedSigning<'_>,
    ) -> Nsd {
        self.register_owned_with(name, ip, port, Some(signing))
            .await
    }

    async fn register_owned_with(
        &self,
        name: &str,
        ip: IpAddr,
        port: u16,
        signing: Option<OwnedSigning<'_>>,
    ) -> Nsd {
        let ns = format!("ns1.{name}");
        let (zone_name, ns_for_zone) = (name.to_owned(), ns.clone());
        let child = tokio::task::block_in_place(|| {
            // The zone serves its server's address too, the glue's twin.
            let mut own = Zone::child(&zone_name, &[&ns_for_zone]).address(&ns_for_zone, ip);
            if let Some(signing) = &signing {
                own = own.signed(signing.keys, Validity::default());
            }
            let child = Nsd::start_on(own, &[], ip, Some(port));
            self.nsd.change(|zone| {
                let parent = std::mem::replace(zone, Zone::new("test"));
                let mut parent = parent
                    .delegate(&zone_name, &[&ns_for_zone])
                    .address(&ns_for_zone, ip);
                if let Some(signing) = &signing {
                    parent = parent.ds(&zone_name, &signing.ds);
                }
                *zone = parent;
            });
            child
        });
        self.rdap.add_domain(&owned_object(name, &[&ns])).await;
        self.whois.set(
            name,
            WhoisReply::text(whois_record(name, "serverTransferProhibited", &[&ns])),
        );
        child
    }

    /// Changes the name servers of an owned domain (see
    /// [`World::register_owned`]) at the registry only: its RDAP object now
    /// lists `nameservers`, while the parent zone and the domain's own
    /// server still say what they said — the first sign of a hijack or of
    /// a half-done migration.
    pub async fn change_registry_nameservers(&self, name: &str, nameservers: &[&str]) {
        self.rdap.add_domain(&owned_object(name, nameservers)).await;
    }

    /// The trust anchor of a signed world ([`World::start_signed`]): its
    /// root's KSK as a zone-file DNSKEY line, what `DNSSEC_TRUST_ANCHORS`
    /// takes. `None` for an unsigned world.
    pub fn trust_anchor(&self) -> Option<String> {
        self.signing.as_ref().map(|keys| keys.root.ksk_dnskey())
    }

    /// A name that is not registered anywhere answers "not found" in WHOIS.
    pub fn unregistered(&self, name: &str) {
        self.whois.set(name, WhoisReply::text(whois_free(name)));
    }

    /// Drops `name`: the delegation, the RDAP object and the WHOIS record go.
    pub async fn drop_domain(&self, name: &str) {
        let zone_name = name.to_owned();
        self.blocking(move |nsd| nsd.remove_delegation(&zone_name))
            .await;
        self.rdap.remove_domain(name).await;
        self.unregistered(name);
    }

    async fn blocking(&self, change: impl FnOnce(&TldServers) + Send + 'static) {
        // nsd changes poll with std sleeps; keep them off the async workers.
        tokio::task::block_in_place(|| change(&self.nsd));
    }

    /// Serves `list` at `/domains`.
    pub fn set_domain_list(&self, list: &serde_json::Value) {
        self.api.set(
            "/domains",
            Reply::json(200, "application/json", list.to_string()),
        );
    }

    /// Environment for an operator or `check` run against this world.
    pub fn checker_env(&self) -> Vec<(String, String)> {
        vec![
            ("DNS_RESOLVERS".into(), self.nsd.resolvers()),
            ("DNS_TIMEOUT".into(), "1s".into()),
            (
                "RDAP_OVERRIDES".into(),
                format!("test={}", self.rdap.base_url()),
            ),
            ("RDAP_TIMEOUT".into(), "3s".into()),
            (
                "WHOIS_OVERRIDES".into(),
                format!("test={}", self.whois.host_port()),
            ),
            ("WHOIS_TIMEOUT".into(), "3s".into()),
            ("WHOIS_RATE_LIMIT".into(), "50/s".into()),
            ("HTTP_TIMEOUT".into(), "1s".into()),
        ]
    }

    /// Environment for an operator that notifies this world's receiver of
    /// availability (no per-check results), without the domain list sync.
    pub fn notifying_env(&self) -> Vec<(String, String)> {
        let mut env = self.checker_env();
        env.extend([
            ("API_CALLBACK_URL".into(), self.api.url("/callback")),
            ("API_AUTH_TOKEN".into(), TOKEN.into()),
            ("PER_CHECK_CALLBACKS".into(), "off".into()),
        ]);
        env
    }

    /// Environment for an operator that syncs from and calls back to this world.
    pub fn operator_env(&self) -> Vec<(String, String)> {
        let mut env = self.checker_env();
        env.extend([
            ("API_CALLBACK_URL".into(), self.api.url("/callback")),
            ("API_AUTH_TOKEN".into(), TOKEN.into()),
            ("DOMAIN_API_URL".into(), self.api.url("/domains")),
        ]);
        env
    }

    /// Callback requests received so far.
    pub fn callbacks(&self) -> Vec<Recorded> {
        self.api.requests("/callback")
    }

    /// Availability notifications received so far (not per-check results).
    pub fn notifications(&self) -> Vec<Recorded> {
        self.callbacks()
            .into_iter()
            .filter(|r| r.json().get("status").is_some())
            .collect()
    }

    /// Waits until `done` holds, polling every 200 ms, or panics after `patience`.
    pub async fn wait_until(
        &self,
        what: &str,
        patience: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + patience;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {patience:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
