//! Plumbing shared by every outbound client: the TLS provider, the
//! User-Agent, `Retry-After`, and the one table of addresses the operator
//! must not contact ([`refused_range`]).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Once,
};

use ipnet::{Ipv4Net, Ipv6Net};

/// Installs rustls's `ring` crypto provider as the process default, once.
///
/// kube and reqwest both use rustls; with the provider chosen here rather than
/// by feature flags, one provider (ring, no C toolchain needed) serves both.
pub fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An Err means another provider was installed first; that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The User-Agent of every request the operator makes.
pub const USER_AGENT: &str = concat!("domain-monitor/", env!("CARGO_PKG_VERSION"));

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delta-seconds
/// or an HTTP-date, resolved against `now`; a date in the past means "now"
/// (zero). `None` when the header is absent or unreadable. The one reader of
/// the header: RDAP, the registrar API and callbacks all use it.
pub fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(raw).ok()?;
    Some(at.duration_since(now).try_into().unwrap_or_default())
}

/// Why `ip` must not be contacted, naming its range, or `None` for a public
/// unicast address.
///
/// Covers loopback, RFC 1918 and ULA private space, link-local (with the
/// cloud metadata address 169.254.169.254), CGNAT, "this network",
/// unspecified, multicast, broadcast and reserved space, documentation and
/// benchmarking ranges, IETF protocol assignments, discard-only space, and
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

/// An IPv4 network and the words that name it.
const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, what: &'static str) -> (Ipv4Net, &'static str) {
    (Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len), what)
}

/// An IPv6 network (given as its 128 bits) and the words that name it.
const fn v6(bits: u128, len: u8, what: &'static str) -> (Ipv6Net, &'static str) {
    (Ipv6Net::new_assert(Ipv6Addr::from_bits(bits), len), what)
}

/// IPv4 space that is not public unicast (IANA IPv4 Special-Purpose
/// Address Registry, RFC 6890).
const V4_REFUSED: &[(Ipv4Net, &str)] = &[
    v4(0, 0, 0, 0, 8, "\"this network\" 0.0.0.0/8"),
    v4(10, 0, 0, 0, 8, "private 10.0.0.0/8"),
    v4(100, 64, 0, 0, 10, "carrier-grade NAT 100.64.0.0/10"),
    v4(127, 0, 0, 0, 8, "loopback 127.0.0.0/8"),
    v4(
        169,
        254,
        0,
        0,
        16,
        "link-local 169.254.0.0/16 (cloud metadata)",
    ),
    v4(172, 16, 0, 0, 12, "private 172.16.0.0/12"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments 192.0.0.0/24"),
    v4(192, 0, 2, 0, 24, "documentation 192.0.2.0/24"),
    v4(192, 88, 99, 0, 24, "6to4 relay anycast 192.88.99.0/24"),
    v4(192, 168, 0, 0, 16, "private 192.168.0.0/16"),
    v4(198, 18, 0, 0, 15, "benchmarking 198.18.0.0/15"),
    v4(198, 51, 100, 0, 24, "documentation 198.51.100.0/24"),
    v4(203, 0, 113, 0, 24, "documentation 203.0.113.0/24"),
    v4(224, 0, 0, 0, 4, "multicast 224.0.0.0/4"),
    v4(
        240,
        0,
        0,
        0,
        4,
        "reserved 240.0.0.0/4 (with broadcast 255.255.255.255)",
    ),
];

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_REFUSED
        .iter()
        .find_map(|(net, what)| net.contains(&ip).then_some(*what))
}

/// IPv6 space that is not public unicast (IANA IPv6 Special-Purpose
/// Address Registry, RFC 6890).
const V6_REFUSED: &[(Ipv6Net, &str)] = &[
    v6(0, 128, "unspecified ::"),
    v6(1, 128, "loopback ::1"),
    v6(0x0100 << 112, 64, "discard-only 100::/64"),
    v6(0x0064_ff9b_0001 << 80, 48, "local-use NAT64 64:ff9b:1::/48"),
    v6(0x2001_0000 << 96, 23, "IETF protocol assignments 2001::/23"),
    v6(0x2001_0db8 << 96, 32, "documentation 2001:db8::/32"),
    v6(0x2002 << 112, 16, "6to4 2002::/16"),
    v6(0x3fff << 112, 20, "documentation 3fff::/20"),
    v6(0xfc00 << 112, 7, "unique local fc00::/7"),
    v6(0xfe80 << 112, 10, "link-local fe80::/10"),
    v6(0xfec0 << 112, 10, "site-local fec0::/10"),
    v6(0xff00 << 112, 8, "multicast ff00::/8"),
];

/// The NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): its addresses
/// stand for the IPv4 address in their last 32 bits.
const NAT64: Ipv6Net = v6(0x0064_ff9b << 96, 96, "NAT64 64:ff9b::/96").0;

/// IPv4-compatible addresses ::/96 (deprecated by RFC 4291), but for the
/// unspecified and loopback addresses that share the prefix.
const IPV4_COMPATIBLE: Ipv6Net = v6(0, 96, "IPv4-compatible ::/96").0;

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that reach an IPv4 address are judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4).map(|_| "IPv4-mapped form of a refused IPv4 address");
    }
    let [.., a, b, c, d] = ip.octets();
    if NAT64.contains(&ip) {
        return refused_v4(Ipv4Addr::new(a, b, c, d))
            .map(|_| "NAT64 form of a refused IPv4 address");
    }
    if IPV4_COMPATIBLE.contains(&ip) && ip.to_bits() > 1 {
        return Some("IPv4-compatible ::/96 (deprecated)");
    }
    V6_REFUSED
        .iter()
        .find_map(|(net, what)| net.contains(&ip).then_some(*what))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    fn refused(ip: &str) -> Option<&'static str> {
        refused_range(ip.parse().unwrap())
    }

    #[test]
    fn non_public_ipv4_ranges_are_refused() {
        for (ip, range) in [
            ("0.0.0.0", "this network"),
            ("10.1.2.3", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.255", "loopback"),
            ("169.254.169.254", "cloud metadata"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let reason = refused(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(reason.contains(range), "{ip}: {reason}");
        }
    }

    #[test]
    fn non_public_ipv6_ranges_are_refused() {
        for (ip, range) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("::ffff:10.0.0.1", "IPv4-mapped"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("2001::1", "IETF"),
            ("2001:2::1", "IETF"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let reason = refused(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(reason.contains(range), "{ip}: {reason}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(refused(ip), None, "{ip} is public");
        }
    }

    proptest! {
        #[test]
        fn mapped_forms_agree_with_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(
                refused_range(IpAddr::V4(v4)).is_some(),
                refused_range(IpAddr::V6(v4.to_ipv6_mapped())).is_some()
            );
        }

        #[test]
        fn classifier_never_panics(bits in any::<u128>()) {
            let _ = refused_range(IpAddr::V6(Ipv6Addr::from(bits)));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates_and_a_past_date_means_now() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            retry_after(&headers, now)
        };
        assert_eq!(with("120"), Some(Duration::from_secs(120)));
        assert_eq!(with(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            with("Wed, 01 Jan 2025 00:02:30 GMT"),
            Some(Duration::from_secs(150))
        );
        assert_eq!(with("Tue, 31 Dec 2024 23:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(with("-5"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
