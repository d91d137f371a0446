//! The I/O half of propagation: one round of SOA serials, at the domain's
//! authoritative servers and at a check's resolvers ([`super::propagation`]
//! folds them into the status).
//!
//! The NS set and its addresses (`A` and `AAAA`, asked at once) come from
//! the first resolver that gives them; each address of each server, IPv4
//! and IPv6 alike, is asked without recursion on `NAMESERVER_PORT`, over an
//! engine kept by the check's task between rounds. A server whose name has
//! only `AAAA` records is asked over IPv6 only; one with both is asked at
//! every address, so that a lagging copy behind one of them shows.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
};

use futures::future::join_all;
use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use tokio::time::Instant;

use super::{
    controller::{Plan, Settings},
    propagation::Round,
};
use crate::check::dns::engine::Upstream;
use crate::resource::dhc::{ResolverSerial, ServerSerial};

/// One propagation round: the domain's NS set and their `A` and `AAAA`
/// addresses from the first resolver that gives them, then the SOA serial
/// at each address of each authoritative server (RD=0, on
/// `NAMESERVER_PORT`) and at each resolver.
pub(super) async fn serials(
    plan: &Plan,
    authoritative: &mut HashMap<SocketAddr, Upstream>,
    settings: &Settings,
) -> Round {
    let Ok(apex) = Name::from_ascii(format!("{}.", plan.domain)) else {
        return Round::default();
    };
    let deadline = || Instant::now() + settings.timeout;
    let mut servers: Vec<(String, SocketAddr)> = Vec::new();
    for (_, resolver) in &plan.resolvers {
        let Ok(answer) = resolver.query(&apex, RecordType::NS, deadline()).await else {
            continue;
        };
        let mut names: Vec<String> = noerror(&answer)
            .into_iter()
            .flat_map(|m| m.answers.iter())
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_ascii().to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            continue;
        }
        let lookups = names.iter().map(|host| async move {
            let addresses = match Name::from_ascii(host) {
                Ok(qname) => {
                    let (a, aaaa) = tokio::join!(
                        resolver.query(&qname, RecordType::A, deadline()),
                        resolver.query(&qname, RecordType::AAAA, deadline()),
                    );
                    server_addresses(&[a.ok(), aaaa.ok()], settings.nameserver_port)
                }
                Err(_) => Vec::new(),
            };
            (host.trim_end_matches('.').to_owned(), addresses)
        });
        for (host, addresses) in join_all(lookups).await {
            servers.extend(addresses.into_iter().map(|a| (host.clone(), a)));
        }
        break;
    }
    authoritative.retain(|address, _| servers.iter().any(|(_, a)| a == address));
    for (_, address) in &servers {
        authoritative
            .entry(*address)
            .or_insert_with(|| Upstream::new(*address));
    }
    let authoritative: &HashMap<SocketAddr, Upstream> = authoritative;
    let apex = &apex;
    let at_servers = join_all(servers.iter().map(|(host, address)| async move {
        let serial = match authoritative.get(address) {
            Some(server) => serial_of(&server.query(apex, RecordType::SOA, deadline()).await.ok()),
            None => None,
        };
        ServerSerial {
            server: host.clone(),
            address: address.to_string(),
            serial,
        }
    }));
    let at_resolvers = join_all(plan.resolvers.iter().map(|(named, resolver)| async move {
        ResolverSerial {
            name: named.name.clone(),
            serial: serial_of(&resolver.query(apex, RecordType::SOA, deadline()).await.ok()),
        }
    }));
    let (authoritative, resolvers) = tokio::join!(at_servers, at_resolvers);
    Round {
        authoritative,
        resolvers,
    }
}

/// The addresses of a name server in its `A` and `AAAA` answers (IPv4
/// first, each family in the answers' order, without duplicates), each on
/// `port`. An answer that is missing or not `NOERROR` adds nothing.
fn server_addresses(answers: &[Option<Message>], port: u16) -> Vec<SocketAddr> {
    let mut addresses: Vec<SocketAddr> = Vec::new();
    let ips = answers
        .iter()
        .filter_map(|answer| answer.as_ref().and_then(noerror))
        .flat_map(|m| m.answers.iter())
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        });
    for ip in ips {
        let address = SocketAddr::new(ip, port);
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    addresses.sort_by_key(|a| a.is_ipv6());
    addresses
}

fn noerror(answer: &Message) -> Option<&Message> {
    (answer.metadata.response_code == ResponseCode::NoError).then_some(answer)
}

/// The serial of the SOA record in a `NOERROR` answer.
fn serial_of(answer: &Option<Message>) -> Option<u32> {
    answer
        .as_ref()
        .and_then(noerror)?
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::{
        op::{MessageType, OpCode},
        rr::{
            Record,
            rdata::{A, AAAA},
        },
    };

    use super::*;

    fn answer(code: ResponseCode, records: Vec<RData>) -> Option<Message> {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        let owner = Name::from_ascii("ns.shop.test.").unwrap();
        message.add_answers(
            records
                .into_iter()
                .map(|data| Record::from_rdata(owner.clone(), 300, data)),
        );
        Some(message)
    }

    fn v6(text: &str) -> RData {
        RData::AAAA(AAAA(text.parse().unwrap()))
    }

    #[test]
    fn a_server_with_only_aaaa_records_is_asked_over_ipv6() {
        let a = answer(ResponseCode::NoError, Vec::new());
        let aaaa = answer(ResponseCode::NoError, vec![v6("::1")]);
        let addresses = server_addresses(&[a, aaaa], 5353);
        assert_eq!(addresses, ["[::1]:5353".parse::<SocketAddr>().unwrap()]);
        assert_eq!(addresses[0].to_string(), "[::1]:5353");
    }

    #[test]
    fn both_families_are_asked_ipv4_first_without_duplicates() {
        let a = answer(
            ResponseCode::NoError,
            vec![
                RData::A(A::new(192, 0, 2, 1)),
                RData::A(A::new(192, 0, 2, 1)),
            ],
        );
        let aaaa = answer(
            ResponseCode::NoError,
            vec![v6("2001:db8::53"), v6("2001:db8::54")],
        );
        let addresses: Vec<String> = server_addresses(&[aaaa, a], 53)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            addresses,
            ["192.0.2.1:53", "[2001:db8::53]:53", "[2001:db8::54]:53"]
        );
    }

    #[test]
    fn a_failed_or_missing_lookup_adds_no_address() {
        let servfail = answer(ResponseCode::ServFail, vec![v6("2001:db8::53")]);
        let a = answer(ResponseCode::NoError, vec![RData::A(A::new(192, 0, 2, 1))]);
        assert_eq!(
            server_addresses(&[a, servfail], 53),
            ["192.0.2.1:53".parse::<SocketAddr>().unwrap()]
        );
        assert!(server_addresses(&[None, None], 53).is_empty());
    }
}
