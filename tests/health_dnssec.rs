//! DNSSEC health against real servers and real signatures: a root zone of
//! our own (its KSK is the trust anchor) on an nsd that also plays the
//! recursive resolver, `test.` signed on two nsd, and child zones signed
//! offline by ldns (`ldns-signzone`, any validity window) on two nsd of
//! their own (two loopback addresses, one port, as name servers all listen
//! on port 53).
//!
//! The root also delegates an unsigned TLD, `plain.` (no DS; its own nsd),
//! with `site.plain` under it: an insecure delegation, proven by the
//! root's signed NSEC.
//!
//! One world serves every case (starting nsd and signing is most of the
//! wall time).

mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};

use domain_monitor::{
    check::dns::{DnsChecker, stub::StubResolver},
    domain_name::DomainName,
    health::{
        delegation::{self, ProbeSettings},
        dnssec,
    },
    resource::health::DnssecView,
};
use hickory_proto::dnssec::TrustAnchors;
use support::nsd::{Keys, Nsd, TldServers, Validity, Zone, free_port_on, now_unix};

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 41);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 42);
const TIMEOUT: Duration = Duration::from_millis(800);
const DAY: u64 = 86_400;
/// 2020-01-01 and 2020-02-01: long expired.
const EXPIRED: Validity = Validity {
    inception: Some(1_577_836_800),
    expiration: Some(1_580_515_200),
};

/// The delegated domains, each served by `ns1.<name>` (A) and `ns2.<name>` (B).
const DOMAINS: [&str; 8] = [
    "secure.test",
    "expiring.test",
    "expired.test",
    "mismatch.test",
    "nokey.test",
    "nods.test",
    "unsigned.test",
    "stale.test",
];

fn servers_of(domain: &str) -> [String; 2] {
    [format!("ns1.{domain}"), format!("ns2.{domain}")]
}

fn child_zone(domain: &str) -> Zone {
    let [ns1, ns2] = servers_of(domain);
    Zone::child(domain, &[&ns1, &ns2])
}

struct World {
    delegation: delegation::Prober,
    dns: Arc<DnsChecker>,
    resolver: Arc<StubResolver>,
    anchors: Arc<TrustAnchors>,
    settings: ProbeSettings,
    /// When `expiring.test`'s signatures expire, Unix seconds.
    expiring_at: u64,
    /// The tag of `mismatch.test`'s signing KSK, and of the spare key its DS names.
    mismatch_tags: (u16, u16),
    /// The KSK of `nods.test` (its DS is what the message asks to publish).
    nods_keys: Keys,
    /// The checker asking the unsigned TLD `plain.`'s server.
    plain_dns: Arc<DnsChecker>,
    _servers: Vec<Nsd>,
    _tld: TldServers,
}

fn world() -> World {
    let port = free_port_on(&[A, B].map(IpAddr::V4));
    let now = now_unix();
    let expiring_at = now + 2 * DAY;
    let keys = |zone: &str| Keys::generate(zone);
    let (root_keys, test_keys) = (keys("."), keys("test"));
    let secure = keys("secure.test");
    let expiring = keys("expiring.test");
    let expired = keys("expired.test");
    let mismatch = keys("mismatch.test");
    let spare = keys("mismatch.test");
    let nokey = keys("nokey.test");
    let nods = keys("nods.test");
    let stale = keys("stale.test");
    let site = keys("site.plain");

    let mut parent = Zone::new("test");
    for domain in DOMAINS {
        let [ns1, ns2] = servers_of(domain);
        parent = parent
            .delegate(domain, &[&ns1, &ns2])
            .address(&ns1, IpAddr::V4(A))
            .address(&ns2, IpAddr::V4(B));
    }
    let parent = parent
        .ds("secure.test", &secure.ds())
        .ds("expiring.test", &expiring.ds())
        .ds("expired.test", &expired.ds())
        .ds("mismatch.test", &spare.ds())
        .ds("nokey.test", &nokey.ds())
        .ds("stale.test", &stale.ds())
        .signed(&test_keys, Validity::default());
    let root = Zone::root(&["ns.root-servers.test"])
        .delegate("test", &["ns1.nic.test", "ns2.nic.test"])
        .ds("test", &test_keys.ds())
        .delegate("plain", &["ns1.nic.plain", "ns2.nic.plain"])
        .signed(&root_keys, Validity::default());
    // An unsigned TLD (no DS at the root) and a signed domain under it.
    let [site_ns1, site_ns2] = servers_of("site.plain");
    let plain = Zone::new("plain")
        .delegate("site.plain", &[&site_ns1, &site_ns2])
        .address(&site_ns1, IpAddr::V4(A))
        .address(&site_ns2, IpAddr::V4(B));

    let signed =
        |domain: &str, keys: &Keys, validity: Validity| child_zone(domain).signed(keys, validity);
    let common = vec![
        signed("expiring.test", &expiring, Validity::until(expiring_at)),
        signed("expired.test", &expired, EXPIRED),
        signed("mismatch.test", &mismatch, Validity::default()),
        child_zone("nokey.test"),
        signed("nods.test", &nods, Validity::default()),
        child_zone("unsigned.test"),
        signed("site.plain", &site, Validity::default()),
    ];
    let on_a = [
        common.clone(),
        vec![signed("stale.test", &stale, Validity::default())],
    ]
    .concat();
    // B serves a stale copy of `stale.test`, signed long ago.
    let on_b = [common, vec![signed("stale.test", &stale, EXPIRED)]].concat();
    let secure_zone = signed("secure.test", &secure, Validity::default());

    let (tld, servers) = std::thread::scope(|scope| {
        let tld = scope.spawn(|| TldServers::start(&parent, 2));
        let resolver = scope.spawn(|| Nsd::start(root));
        let plain = scope.spawn(|| Nsd::start(plain));
        let a =
            scope.spawn(|| Nsd::start_on(secure_zone.clone(), &on_a, IpAddr::V4(A), Some(port)));
        let b =
            scope.spawn(|| Nsd::start_on(secure_zone.clone(), &on_b, IpAddr::V4(B), Some(port)));
        let servers: Vec<Nsd> = [resolver, a, b, plain]
            .into_iter()
            .map(|s| s.join().expect("start nsd"))
            .collect();
        (tld.join().expect("start nsd"), servers)
    });

    let checker = |servers| {
        Arc::new(DnsChecker::new(support::dns_settings(servers, TIMEOUT)).expect("dns checker"))
    };
    let dns = checker(tld.addrs());
    let plain_dns = checker(vec![servers[3].addr()]);
    let resolver = Arc::new(StubResolver::new(&[servers[0].addr()], TIMEOUT));
    let settings = ProbeSettings {
        timeout: TIMEOUT,
        nameserver_port: port,
    };
    let anchors: TrustAnchors = root_keys.ksk_dnskey().parse().expect("the root KSK");
    World {
        delegation: delegation::Prober::new(Arc::clone(&dns), Arc::clone(&resolver), settings),
        dns,
        resolver,
        anchors: Arc::new(anchors),
        settings,
        expiring_at,
        mismatch_tags: (mismatch.ksk_tag(), spare.ksk_tag()),
        nods_keys: nods,
        plain_dns,
        _servers: servers,
        _tld: tld,
    }
}

impl World {
    fn prober(&self, anchors: Arc<TrustAnchors>) -> dnssec::Prober {
        dnssec::Prober::new(
            Arc::clone(&self.dns),
            Arc::clone(&self.resolver),
            anchors,
            self.settings,
        )
    }

    /// A prober asking `plain.`'s server as the parent, from the root's
    /// anchor, and the delegation prober that goes with it.
    fn plain_probers(&self) -> (delegation::Prober, dnssec::Prober) {
        (
            delegation::Prober::new(
                Arc::clone(&self.plain_dns),
                Arc::clone(&self.resolver),
                self.settings,
            ),
            dnssec::Prober::new(
                Arc::clone(&self.plain_dns),
                Arc::clone(&self.resolver),
                Arc::clone(&self.anchors),
                self.settings,
            ),
        )
    }

    /// The delegation probe, then the DNSSEC probe over the servers it found.
    async fn view(&self, prober: &dnssec::Prober, domain: &str) -> DnssecView {
        self.view_with(&self.delegation, prober, domain).await
    }

    async fn view_with(
        &self,
        delegation: &delegation::Prober,
        prober: &dnssec::Prober,
        domain: &str,
    ) -> DnssecView {
        let name = DomainName::parse(domain).unwrap();
        let report = delegation
            .probe(&name, &[], &[])
            .await
            .unwrap_or_else(|e| panic!("delegation of {domain}: {e}"));
        assert_eq!(report.child.len(), 2, "{domain}: {report:#?}");
        prober
            .probe(&name, &report.child)
            .await
            .unwrap_or_else(|e| panic!("DNSSEC of {domain}: {e}"))
    }
}

fn reason(view: &DnssecView) -> &str {
    view.reason.as_deref().unwrap_or("")
}

fn problem(view: &DnssecView) -> &str {
    view.problem.as_deref().unwrap_or("")
}

fn expires_at(view: &DnssecView) -> Option<i64> {
    view.signature_expires_at.as_ref().map(|t| t.0.as_second())
}

#[tokio::test]
async fn dnssec_from_our_own_root_to_each_domain() {
    let world = world();
    let prober = world.prober(Arc::clone(&world.anchors));
    let now = i64::try_from(now_unix()).unwrap();

    // Secure: DS at the parent, DNSKEYs at both servers, matched, valid;
    // ldns's default window ends four weeks on.
    let view = world.view(&prober, "secure.test").await;
    assert_eq!(reason(&view), "Valid", "secure: {view:?}");
    assert!(view.ds_at_parent && view.dnskey_at_child && view.matched && view.valid);
    assert_eq!(view.problem, None);
    let expiry = expires_at(&view).expect("secure: an expiry");
    assert!(
        (now + 27 * 86_400..=now + 29 * 86_400).contains(&expiry),
        "secure: expires at {expiry}, now {now}"
    );

    // Expiring in two days: still valid, the expiry says when.
    let view = world.view(&prober, "expiring.test").await;
    assert_eq!(reason(&view), "Valid", "expiring: {view:?}");
    assert_eq!(
        expires_at(&view),
        Some(i64::try_from(world.expiring_at).unwrap())
    );

    // Expired at both servers: matched, not valid; the expiry is the past one.
    let view = world.view(&prober, "expired.test").await;
    assert_eq!(reason(&view), "SignatureExpired", "expired: {view:?}");
    assert!(view.matched && !view.valid);
    assert_eq!(expires_at(&view), Some(1_580_515_200), "2020-02-01");
    assert!(problem(&view).contains("ns1.expired.test"), "{view:?}");
    assert!(problem(&view).contains("2020-02-01"), "{view:?}");

    // The parent's DS names a spare key that signs nothing.
    let view = world.view(&prober, "mismatch.test").await;
    assert_eq!(reason(&view), "DSMismatch", "mismatch: {view:?}");
    assert!(view.ds_at_parent && view.dnskey_at_child && !view.matched && !view.valid);
    let (signing, spare) = world.mismatch_tags;
    assert!(
        problem(&view).contains(&format!("{spare}/13"))
            && problem(&view).contains(&format!("{signing}/13")),
        "both tags named: {view:?}"
    );

    // A DS but an unsigned zone.
    let view = world.view(&prober, "nokey.test").await;
    assert_eq!(reason(&view), "MissingDNSKEY", "nokey: {view:?}");
    assert!(view.ds_at_parent && !view.dnskey_at_child && !view.valid);

    // Signed, but the parent has no DS: the message gives the DS to publish.
    let view = world.view(&prober, "nods.test").await;
    assert_eq!(reason(&view), "NotDelegatedSecurely", "nods: {view:?}");
    assert!(!view.ds_at_parent && view.dnskey_at_child);
    let ds = world.nods_keys.ds();
    assert!(
        problem(&view)
            .to_ascii_lowercase()
            .contains(&format!("nods.test. in ds {}", ds.to_ascii_lowercase())),
        "publish {ds}: {view:?}"
    );

    // Neither DS nor DNSKEY.
    let view = world.view(&prober, "unsigned.test").await;
    assert_eq!(reason(&view), "Unsigned", "unsigned: {view:?}");
    assert!(!view.ds_at_parent && !view.dnskey_at_child && !view.valid);
    assert_eq!(view.signature_expires_at, None);

    // One server serves a stale copy: it is named, the other is not.
    let view = world.view(&prober, "stale.test").await;
    assert_eq!(reason(&view), "SignatureExpired", "stale: {view:?}");
    assert!(problem(&view).contains("ns2.stale.test"), "{view:?}");
    assert!(!problem(&view).contains("ns1.stale.test"), "{view:?}");
    assert_eq!(expires_at(&view), Some(1_580_515_200));

    // Under a TLD the root proves unsigned (a signed NSEC, no DS): an
    // insecure delegation, not a broken chain, though the domain is signed
    // itself.
    let (plain_delegation, plain) = world.plain_probers();
    let view = world
        .view_with(&plain_delegation, &plain, "site.plain")
        .await;
    assert_eq!(reason(&view), "InsecureParent", "site.plain: {view:?}");
    assert!(!view.valid && view.dnskey_at_child && !view.ds_at_parent);
    assert!(
        problem(&view).contains("TLD plain. is not signed"),
        "{view:?}"
    );
    assert!(dnssec::Reason::InsecureParent.is_insecure());

    // Another anchor than our root's KSK: nothing validates.
    let other: TrustAnchors = Keys::generate(".")
        .ksk_dnskey()
        .parse()
        .expect("another KSK");
    let wrong = world.prober(Arc::new(other));
    for domain in ["secure.test", "unsigned.test"] {
        let view = world.view(&wrong, domain).await;
        assert_eq!(reason(&view), "ChainBroken", "{domain}: {view:?}");
        assert!(!view.valid);
        assert!(problem(&view).contains("trust anchors"), "{view:?}");
    }
}
