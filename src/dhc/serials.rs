//! The I/O half of propagation: one round of SOA serials, at the domain's
//! authoritative servers and at a check's resolvers ([`super::propagation`]
//! folds them into the status).
//!
//! The NS set and its `A` addresses come from the first resolver that gives
//! them; each server is asked without recursion on `NAMESERVER_PORT`, over
//! an engine kept by the check's task between rounds.

use std::{collections::HashMap, net::SocketAddr};

use futures::future::join_all;
use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use tokio::time::Instant;

use super::{
    controller::{Plan, Settings},
    propagation::Round,
    resource::{ResolverSerial, ServerSerial},
};
use crate::check::dns::engine::Upstream;

/// One propagation round: the domain's NS set and their addresses from the
/// first resolver that gives them, then the SOA serial at each
/// authoritative server (RD=0, on `NAMESERVER_PORT`) and at each resolver.
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
                Ok(qname) => resolver
                    .query(&qname, RecordType::A, deadline())
                    .await
                    .ok()
                    .map(|m| {
                        m.answers
                            .iter()
                            .filter_map(|r| match &r.data {
                                RData::A(a) => {
                                    Some(SocketAddr::new(a.0.into(), settings.nameserver_port))
                                }
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
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
