//! DNSSEC health end to end: the operator binary against the real API
//! server, the registry (rdap-srv) and `test.` signed on two nsd, with the
//! domain's own server (nsd) serving its zone signed by ldns. The trust
//! anchor (`DNSSEC_TRUST_ANCHORS`) is the KSK of `test.` itself.
//!
//! The domain starts secure; its server then serves an expired copy
//! (`SignatureExpired`), then the parent's DS is replaced by a spare key's
//! (`DSMismatch`): each is one status write and one Event; nothing
//! changing writes nothing.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use domain_monitor::{
    health::{DNSSEC_VALID, HEALTHY},
    resource::{DnssecPolicy, HealthSpec, MonitoredDomain},
};
use kube::api::PostParams;
use support::{
    cluster::{TestNamespace, pinned},
    health::{self, assert_no_writes, condition, message, pair, writes_during},
    nsd::{Keys, Nsd, Validity, Zone, free_port_on},
    operator::{Operator, wait_for_resource},
    world::World,
};

const PATIENCE: Duration = Duration::from_secs(60);
const NAME: &str = "signed";
const DOMAIN: &str = "signed.test";
const SERVER: &str = "ns1.signed.test";
/// Where `ns1.signed.test` listens.
const CHILD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 43);
/// 2020-01-01 to 2020-02-01: long expired.
const EXPIRED: Validity = Validity {
    inception: Some(1_577_836_800),
    expiration: Some(1_580_515_200),
};

fn signed_domain() -> MonitoredDomain {
    let mut md = pinned(NAME, DOMAIN, false);
    md.spec.health = Some(HealthSpec {
        dnssec: DnssecPolicy::Required,
        ..HealthSpec::default()
    });
    md
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_signatures_and_a_mismatched_ds_each_give_one_write_and_one_event() {
    let ns = TestNamespace::new("health-dnssec").await;
    let world = World::start().await;
    world.register(DOMAIN, "active").await;
    let (tld_keys, keys, spare) = tokio::task::block_in_place(|| {
        (
            Keys::generate("test"),
            Keys::generate(DOMAIN),
            Keys::generate(DOMAIN),
        )
    });
    let port = free_port_on(&[IpAddr::V4(CHILD)]);
    let child = tokio::task::block_in_place(|| {
        let child = Nsd::start_on(
            Zone::child(DOMAIN, &[SERVER]).signed(&keys, Validity::default()),
            &[],
            IpAddr::V4(CHILD),
            Some(port),
        );
        // `test.` signed, with glue and the domain's DS.
        world.nsd.change(|zone| {
            let parent = std::mem::replace(zone, Zone::new("test"));
            *zone = parent
                .address(SERVER, IpAddr::V4(CHILD))
                .ds(DOMAIN, &keys.ds())
                .signed(&tld_keys, Validity::default());
        });
        child
    });
    let anchors = tempfile::NamedTempFile::new().expect("anchor file");
    std::fs::write(anchors.path(), tld_keys.ksk_dnskey()).expect("write the anchor");

    let api = ns.domains();
    api.create(&PostParams::default(), &signed_domain())
        .await
        .expect("create");
    let mut env = world.checker_env();
    env.extend([
        ("NAMESERVER_PORT".to_owned(), port.to_string()),
        (
            "DNSSEC_TRUST_ANCHORS".to_owned(),
            anchors.path().display().to_string(),
        ),
    ]);
    let operator = Operator::start(&ns.name, "health-dnssec", &env);

    // Secure: valid, healthy, no event, and no writes while it stays so.
    let md = wait_for_resource(&api, NAME, PATIENCE, "DNSSECValid", &operator, |md| {
        condition(md, DNSSEC_VALID).is_some_and(|(status, _)| status != "Unknown")
            && condition(md, HEALTHY).is_some_and(|(status, _)| status != "Unknown")
    })
    .await;
    assert_eq!(
        condition(&md, DNSSEC_VALID),
        pair("True", "Valid"),
        "{:?}",
        md.status
    );
    assert_eq!(condition(&md, HEALTHY), pair("True", "AllChecksPassed"));
    let dnssec = md
        .status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.dnssec.clone())
        .expect("status.health.dnssec");
    assert!(dnssec.valid && dnssec.matched, "{dnssec:?}");
    assert!(dnssec.signature_expires_at.is_some());
    assert!(health::event_reasons(&ns, NAME).await.is_empty());
    assert_no_writes(&api, "nothing changed", &operator).await;

    // The server serves a copy signed long ago: one write, one Event.
    let writes = writes_during(&api, async {
        tokio::task::block_in_place(|| {
            child.change(|zone| {
                let unsigned = std::mem::replace(zone, Zone::child(DOMAIN, &[SERVER]));
                *zone = unsigned.signed(&keys, EXPIRED);
            })
        })
    })
    .await;
    assert_eq!(writes, 1, "one write for the expiry:\n{}", operator.log());
    let md = api.get(NAME).await.expect("get");
    assert_eq!(
        condition(&md, DNSSEC_VALID),
        pair("False", "SignatureExpired")
    );
    assert!(
        message(&md, DNSSEC_VALID).contains(SERVER),
        "{}",
        message(&md, DNSSEC_VALID)
    );
    assert_eq!(condition(&md, HEALTHY), pair("False", "SignatureExpired"));
    assert_eq!(
        health::wait_for_event_reasons(&ns, NAME, 1).await,
        ["SignatureExpired"]
    );

    // The parent's DS now names a spare key: one write, one more Event.
    let writes = writes_during(&api, async {
        tokio::task::block_in_place(|| {
            world.nsd.change(|zone| {
                let parent = std::mem::replace(zone, Zone::new("test"));
                *zone = parent.without_ds(DOMAIN).ds(DOMAIN, &spare.ds());
            })
        })
    })
    .await;
    assert_eq!(writes, 1, "one write for the mismatch:\n{}", operator.log());
    let md = api.get(NAME).await.expect("get");
    assert_eq!(condition(&md, DNSSEC_VALID), pair("False", "DSMismatch"));
    let text = message(&md, DNSSEC_VALID);
    assert!(text.contains(&format!("{}/13", spare.ksk_tag())), "{text}");
    assert_eq!(
        health::wait_for_event_reasons(&ns, NAME, 2).await,
        ["DSMismatch", "SignatureExpired"]
    );

    // Nothing changes: nothing is written.
    assert_no_writes(&api, "nothing changed", &operator).await;
}
