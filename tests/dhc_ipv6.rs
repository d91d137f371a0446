//! DomainHealthCheck propagation with an authoritative server reachable only
//! over IPv6: the operator (the real binary, `DOMAIN_HEALTH_CHECKS=true`)
//! against the real API server, a real unbound resolver and two real nsd.
//!
//! The lab: `shop6.test` served by `ns1.shop6.test` (`A 127.0.0.91`, an nsd
//! on that address) and `ns2.shop6.test` (only `AAAA ::1`, an nsd on the
//! IPv6 loopback), both on one port (`NAMESERVER_PORT`); unbound `a` stubs
//! to the IPv4 one. The operator finds `ns2` only by asking `AAAA`, and asks
//! it over an IPv6 socket.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use domain_monitor::resource::dhc::{DomainHealthCheck, ProbeRecordType, ServerSerial};
use hickory_resolver::proto::{
    op::ResponseCode,
    rr::{RData, RecordType},
};
use kube::{Api, api::PostParams};
use support::{
    cluster::TestNamespace,
    dhc::{check, install_dhc_crd, record, resolver, wait_for},
    nsd::{Nsd, Zone, free_port_on},
    operator::Operator,
    unbound::Unbound,
};

const ZONE: &str = "shop6.test";
const NS1: &str = "ns1.shop6.test";
const NS2: &str = "ns2.shop6.test";
const V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 91);
const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 92);
/// The zone: `ns1` with only an IPv4 address, `ns2` with only an IPv6 one.
fn zone() -> Zone {
    Zone::child(ZONE, &[NS1, NS2])
        .address(NS1, IpAddr::V4(V4))
        .address(NS2, IpAddr::V6(Ipv6Addr::LOCALHOST))
        .address(&format!("www.{ZONE}"), "192.0.2.1".parse().unwrap())
}

fn converged(check: &DomainHealthCheck) -> Option<(String, String, String)> {
    check
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Converged")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn authoritative(check: &DomainHealthCheck) -> Vec<ServerSerial> {
    check
        .status
        .as_ref()
        .and_then(|s| s.propagation.as_ref())
        .map(|p| p.authoritative.clone())
        .unwrap_or_default()
}

/// The IPv6-only server's serial is in `status.propagation.authoritative`
/// under its `[::1]:port` address; when it lags, `Converged` is
/// `SerialMismatch` naming it; when it catches up, `Converged` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_only_authoritative_server_is_asked_and_named_when_it_lags() {
    let (v4, v6, a) = tokio::task::block_in_place(|| {
        let v6_ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        std::net::UdpSocket::bind((v6_ip, 0)).expect(
            "this test needs the IPv6 loopback ::1 (sysctl -w net.ipv6.conf.lo.disable_ipv6=0)",
        );
        let port = free_port_on(&[IpAddr::V4(V4), v6_ip]);
        let v4 = Nsd::start_on(zone(), &[], IpAddr::V4(V4), Some(port));
        let v6 = Nsd::start_on(zone(), &[], v6_ip, Some(port));
        let a = Unbound::start(IpAddr::V4(RESOLVER), ZONE, v4.addr());
        // The lab works before the operator looks at it: the resolver gives
        // ns2 only an AAAA record, and the IPv6 server answers.
        let ns2 = |kind| {
            a.ask(&format!("{NS2}."), kind)
                .filter(|m| m.metadata.response_code == ResponseCode::NoError)
                .map(|m| m.answers.len())
        };
        assert_eq!(ns2(RecordType::A), Some(0), "ns2 has no A record");
        assert_eq!(ns2(RecordType::AAAA), Some(1), "ns2 has one AAAA record");
        let soa = support::nsd::query(v6.addr(), &format!("{ZONE}."), RecordType::SOA)
            .expect("the IPv6 nsd answers");
        assert!(
            soa.answers
                .iter()
                .any(|r| matches!(&r.data, RData::SOA(s) if s.serial == 1)),
            "{soa:?}"
        );
        (v4, v6, a)
    });
    let port = v4.addr().port();
    let v6_address = format!("[::1]:{port}");
    assert_eq!(v6.addr().to_string(), v6_address);

    let ns = TestNamespace::new("dhc-ipv6").await;
    install_dhc_crd(&ns.client).await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let port_text = port.to_string();
    let env = [
        ("DOMAIN_HEALTH_CHECKS", "true"),
        ("DNS_TIMEOUT", "4s"),
        ("NAMESERVER_PORT", port_text.as_str()),
        ("RUST_LOG", "info,domain_monitor::dhc=debug"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let operator = Operator::start(&ns.name, "dhc-ipv6", &env);
    let mut web = check(
        "web",
        ZONE,
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![resolver("a", a.addr())],
    );
    web.spec.interval = Some("10s".to_owned());
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");

    let base = wait_for(&api, "web", "Converged with both servers", &operator, |c| {
        converged(c).is_some_and(|(s, _, _)| s == "True") && authoritative(c).len() == 2
    })
    .await;
    assert_eq!(
        authoritative(&base),
        [
            ServerSerial {
                server: NS1.to_owned(),
                address: format!("{V4}:{port}"),
                serial: Some(1),
            },
            ServerSerial {
                server: NS2.to_owned(),
                address: v6_address.clone(),
                serial: Some(1),
            },
        ]
    );

    // ns1 publishes serial 2; the IPv6-only ns2 still serves 1.
    tokio::task::block_in_place(|| v4.change(|_| {}));
    let lagging = wait_for(&api, "web", "SerialMismatch", &operator, |c| {
        converged(c).is_some_and(|(_, reason, _)| reason == "SerialMismatch")
    })
    .await;
    let (status, _, message) = converged(&lagging).unwrap();
    assert_eq!(status, "False");
    assert_eq!(
        message,
        format!("The authoritative servers disagree: the highest serial is 2; {NS2} serves 1.")
    );
    let servers = authoritative(&lagging);
    let ns2 = servers
        .iter()
        .find(|s| s.server == NS2)
        .expect("ns2 listed");
    assert_eq!(
        (ns2.address.as_str(), ns2.serial),
        (v6_address.as_str(), Some(1))
    );

    // ns2 catches up: every server and the resolver serve 2.
    tokio::task::block_in_place(|| v6.change(|_| {}));
    let caught_up = wait_for(&api, "web", "Converged again", &operator, |c| {
        converged(c).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert!(
        authoritative(&caught_up)
            .iter()
            .all(|s| s.serial == Some(2)),
        "{:?}",
        authoritative(&caught_up)
    );
}
