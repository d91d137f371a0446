//! Delegation health: a domain's name-server set as its parent zone, its
//! registry and its own servers see it, and where they differ.
//!
//! Three views:
//! - **parent**: the NS set the TLD's authoritative servers give for the
//!   domain in a *referral* (RFC 1034 §4.2.2: the NS records of the zone cut
//!   in the authority section of the answer to a non-recursive query),
//!   asked of *each* server: servers whose copies of the zone disagree are
//!   reported.
//! - **registry**: the name servers of the registry's RDAP object, given
//!   by the caller.
//! - **child**: each of the domain's own servers (the union of the parent's
//!   and the registry's names) asked `NS <domain>` directly without
//!   recursion: whether it answers, whether with authority (the AA bit of
//!   RFC 1035 §4.1.1), and the NS set it serves at the zone apex.
//!   Addresses come from the parent's glue (address records in the
//!   additional section for names inside the parent's zone), else from
//!   the configured recursive resolvers.
//!
//! A listed server that does not answer, or answers without authority, is
//! *lame* (RFC 8499 §7, "lame delegation"). *Drift* is a view that differs
//! from another, or from the expected set. Names compare in lower case
//! without the trailing dot.
//!
//! **Glue** (RFC 9471): for each name server inside the domain itself
//! (in-domain, `ns1.example.com` of `example.com`), the addresses in the
//! parent's glue are compared with the `A` and `AAAA` records the domain's
//! own servers serve for that name, asked of every address of every server
//! in the same round as their `NS` (no extra round trip). A server whose
//! authoritative set differs from the glue gives a `glueMismatch` line
//! naming the name server, the glue, the served addresses and who serves
//! them; in `status.health.delegation` these lines count as drift
//! (`DelegationDrift` True, reason `Drift`), since resolvers reach the
//! domain through the glue while the zone says otherwise (a renumbered
//! server whose glue at the registry was never updated). A child that
//! serves no address for the name, or does not answer with authority, is
//! not compared (the latter is lame already). Name servers outside the
//! domain (in the parent's zone but another domain's, or elsewhere) are
//! the other domain's to keep and are not compared.
//!
//! [`assemble`] compares the views and does no I/O; [`Prober::probe`] asks
//! the servers, over the dns checker's long-lived sockets, and calls it.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::future::join_all;
use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{
    check::dns::{self, AskError, Delegation, DnsChecker, stub::StubResolver},
    domain_name::DomainName,
};

/// Why the delegation of a domain could not be looked at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain is not a valid DNS name (should not happen for a [`DomainName`]).
    #[error("{name:?} is not a valid DNS name: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why hickory rejected it.
        reason: String,
    },
    /// The parent's servers could not be found.
    #[error("cannot find the parent's servers of {domain}: {source}")]
    ParentServers {
        /// The domain.
        domain: String,
        /// Why.
        #[source]
        source: dns::Error,
    },
    /// Finding the parent's servers took longer than the timeout.
    #[error("finding the parent's servers of {domain} timed out")]
    ParentServersTimeout {
        /// The domain.
        domain: String,
    },
    /// None of the parent's servers gave a usable answer (all timed out,
    /// refused…): the operator cannot see the delegation, which says
    /// nothing about the domain.
    #[error("none of the parent's servers of {domain} answered: {errors}")]
    ParentSilent {
        /// The domain.
        domain: String,
        /// Each server's error, `<server>: <why>`, joined by `; `.
        errors: String,
    },
    /// None of the DNS servers configured in place of the parent's
    /// (`DNS_RESOLVERS`, `--dns-resolvers`) gave a usable answer: the
    /// parent's delegation could not be looked up through them.
    #[error(
        "the configured DNS servers (DNS_RESOLVERS) could not give the parent's delegation of {domain}: {errors}"
    )]
    ConfiguredServersSilent {
        /// The domain.
        domain: String,
        /// Each server's error, `<server>: <why>`, joined by `; `.
        errors: String,
    },
    /// No recursive resolver answered for the address of one of the
    /// domain's name servers (all timed out or were out of reach): whether
    /// that server is lame cannot be told, so the probe says nothing.
    /// Resolvers that answer with an error (`SERVFAIL`) or say the name
    /// has no address make that server lame in the report instead.
    #[error("no resolver answered for the address of {host}, a name server of {domain}: {errors}")]
    ResolversSilent {
        /// The domain.
        domain: String,
        /// The name server whose address was asked.
        host: String,
        /// Each resolver's error, `<resolver>: <why>`, joined by `; `.
        errors: String,
    },
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// === the report ===

/// The delegation of one domain, seen from its parent, its registry and its
/// own servers. Every name is lower case without the trailing dot; every
/// set is sorted.
///
/// ```json
/// { "parent": ["ns1.example.test", "ns2.example.test"],
///   "parentServers": [{"server": "192.0.2.53:53", "nameservers": ["ns1.example.test", "ns2.example.test"]}],
///   "parentDisagreement": [],
///   "registry": ["ns1.example.test", "ns2.example.test"],
///   "child": [{"name": "ns1.example.test", "addresses": ["192.0.2.1"], "answered": true,
///              "authoritative": true, "nameservers": ["ns1.example.test", "ns2.example.test"]}],
///   "drift": [], "lame": [] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationReport {
    /// The NS set at the parent: the one most of its servers give (on a tie,
    /// the one of the server asked first). Empty when the parent does not
    /// delegate the domain or none of its servers answered.
    pub parent: Vec<String>,
    /// Each parent server's answer, in the order they were asked.
    pub parent_servers: Vec<ParentAnswer>,
    /// One sentence per group of parent servers whose answer differs from
    /// `parent`, naming both sides (a zone change still propagating, or a
    /// stale server): "Parent server p1 delegates to a while servers p2,
    /// p3 delegate to a, b."
    pub parent_disagreement: Vec<String>,
    /// The NS set at the registry (RDAP); empty when it is not known.
    pub registry: Vec<String>,
    /// Each of the domain's own servers, by name.
    pub child: Vec<ChildServer>,
    /// One sentence per view that differs from the reference (the expected
    /// set when there is one, else the parent's view), naming who holds
    /// each: "The registry lists a, c; the parent and the child servers
    /// list a, b."
    pub drift: Vec<String>,
    /// One line per lame server: `<name>: <why>`.
    pub lame: Vec<String>,
    /// One line per in-domain name server whose glue at the parent differs
    /// from the addresses the domain's own servers serve for it (see the
    /// module doc), naming both address sets and the servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub glue_mismatch: Vec<String>,
}

impl DelegationReport {
    /// No drift, no disagreement among the parent's servers, no lame
    /// server, no glue mismatch.
    pub fn is_healthy(&self) -> bool {
        self.drift.is_empty()
            && self.parent_disagreement.is_empty()
            && self.lame.is_empty()
            && self.glue_mismatch.is_empty()
    }
}

/// What one of the parent's servers said about the domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentAnswer {
    /// The server's address and port.
    pub server: String,
    /// The NS set of its referral; empty when it does not delegate the
    /// domain (NXDOMAIN, or the name exists without a zone cut) or gave no
    /// usable answer.
    pub nameservers: Vec<String>,
    /// Why there was no usable answer (timeout, SERVFAIL, REFUSED, a
    /// referral to another zone…); absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One of the domain's own name servers, asked `NS <domain>` directly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildServer {
    /// Its name.
    pub name: String,
    /// The addresses asked (glue, or resolved): IPv4 when it has any.
    pub addresses: Vec<String>,
    /// Every address answered NOERROR (not a timeout, REFUSED, SERVFAIL…).
    pub answered: bool,
    /// Every address answered with the AA bit set (RFC 1035 §4.1.1).
    pub authoritative: bool,
    /// The NS set its authoritative answers hold for the domain.
    pub nameservers: Vec<String>,
    /// What was wrong, per address; absent when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ChildServer {
    /// Lame: it did not answer, or answered without authority.
    pub fn is_lame(&self) -> bool {
        !(self.answered && self.authoritative)
    }
}

/// What `status.health.delegation` shows of `report`: its views, its lame
/// servers, and as drift its drift, its parent servers' disagreements and
/// its glue mismatches.
pub fn view(report: DelegationReport) -> crate::resource::health::DelegationView {
    let mut drift = report.drift;
    drift.extend(report.parent_disagreement);
    drift.extend(report.glue_mismatch);
    crate::resource::health::DelegationView {
        parent: report.parent,
        registry: report.registry,
        child: report
            .child
            .into_iter()
            .map(|c| super::ChildView {
                server: c.name,
                answered: c.answered,
                authoritative: c.authoritative,
                nameservers: c.nameservers,
            })
            .collect(),
        drift,
        lame: report.lame,
    }
}

// === the pure part: comparing the views ===

/// A host name as compared here: trimmed, lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// `names` normalised, sorted, without duplicates or empty entries.
fn name_set(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| normalize(n))
        .filter(|n| !n.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// What drift sentences call the expected name servers unless told
/// otherwise ([`Prober::naming_expected`]): the spec's field.
pub const EXPECTED_NAMESERVERS: &str = "expectedNameservers";

/// The report for these answers: the parent's set and its servers'
/// disagreements, drift between the views and against `expected` (empty:
/// no expectation), and the lame servers. `registry` empty means unknown
/// (not compared). Only authoritative child answers count as the child's
/// view; the others are lame. Drift names the expected set
/// [`EXPECTED_NAMESERVERS`].
pub fn assemble(
    parent_servers: Vec<ParentAnswer>,
    registry: &[String],
    child: Vec<ChildServer>,
    expected: &[String],
) -> DelegationReport {
    assemble_naming(
        parent_servers,
        registry,
        child,
        expected,
        EXPECTED_NAMESERVERS,
    )
}

/// [`assemble`], drift naming the expected set `expected_name`.
pub fn assemble_naming(
    parent_servers: Vec<ParentAnswer>,
    registry: &[String],
    child: Vec<ChildServer>,
    expected: &[String],
    expected_name: &str,
) -> DelegationReport {
    let registry = name_set(registry);
    let expected = name_set(expected);
    let (parent, parent_disagreement) = parent_view(&parent_servers);

    // The expectation, when set, is the reference; else the parent's view
    // (what resolvers follow), else the first view there is.
    let mut views: Vec<(Who, &[String])> = Vec::new();
    if !expected.is_empty() {
        views.push((Who::Expected(expected_name), &expected));
    }
    if let Some(parent) = &parent {
        views.push((Who::Parent, parent));
    }
    if !registry.is_empty() {
        views.push((Who::Registry, &registry));
    }
    let answering: Vec<&str> = child
        .iter()
        .filter(|s| !s.is_lame())
        .map(|s| s.name.as_str())
        .collect();
    for server in child.iter().filter(|s| !s.is_lame()) {
        views.push((Who::Child(&server.name), &server.nameservers));
    }
    let groups = group(views);
    let mut drift = Vec::new();
    if let Some(((reference, reference_who), others)) = groups.split_first() {
        for (set, who) in others {
            drift.push(format!(
                "{}; {}.",
                capitalised(&lists(who, set, &answering, child.len())),
                lists(reference_who, reference, &answering, child.len())
            ));
        }
    }
    let lame = child
        .iter()
        .filter(|s| s.is_lame())
        .map(|s| {
            let why = s.error.as_deref().unwrap_or("no authoritative answer");
            format!("{}: {why}", s.name)
        })
        .collect();
    DelegationReport {
        parent: parent.unwrap_or_default(),
        parent_servers,
        parent_disagreement,
        registry,
        child,
        drift,
        lame,
        glue_mismatch: Vec::new(),
    }
}

/// What one address of one of the domain's servers serves as the
/// addresses of an in-domain name server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedAddresses {
    /// The server asked, as the findings name it: its name, or `<name> at
    /// <address>` when it has several addresses.
    pub server: String,
    /// The in-domain name server whose addresses were asked.
    pub host: String,
    /// Its `A` and `AAAA` records in the server's authoritative answers
    /// (NXDOMAIN or NODATA: none); `None` when either answer was not
    /// authoritative (a lame server: not compared).
    pub addresses: Option<BTreeSet<IpAddr>>,
}

/// The glue mismatches: for each in-domain name server in `glue` (its
/// addresses at the parent), the groups of servers in `served` whose
/// authoritative, non-empty set of addresses for it differs from the glue,
/// one line each, in the order the servers were asked. Pure.
pub fn glue_mismatches(
    glue: &BTreeMap<String, BTreeSet<IpAddr>>,
    served: &[ServedAddresses],
) -> Vec<String> {
    let mut lines = Vec::new();
    for (host, at_parent) in glue {
        let mut groups: Vec<(&BTreeSet<IpAddr>, Vec<&str>)> = Vec::new();
        for answer in served.iter().filter(|s| s.host == *host) {
            let Some(addresses) = answer.addresses.as_ref().filter(|a| !a.is_empty()) else {
                continue;
            };
            match groups.iter_mut().find(|(set, _)| *set == addresses) {
                Some((_, servers)) => servers.push(&answer.server),
                None => groups.push((addresses, vec![&answer.server])),
            }
        }
        for (addresses, servers) in groups.into_iter().filter(|(a, _)| *a != at_parent) {
            lines.push(format!(
                "the parent's glue for {host} ({}) differs from the addresses {} serve{} for it ({}): update the glue at your registrar or the address records in your zone so that they agree",
                ip_list(at_parent),
                servers.join(", "),
                if servers.len() == 1 { "s" } else { "" },
                ip_list(addresses),
            ));
        }
    }
    lines
}

fn ip_list(ips: &BTreeSet<IpAddr>) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The addresses of `host` in a server's answer to `host A` or `host
/// AAAA`: `Some` (maybe empty) when the answer is authoritative NOERROR or
/// NXDOMAIN, else `None`.
fn read_served_addresses(host: &Name, answer: &Result<Message, AskError>) -> Option<Vec<IpAddr>> {
    let message = answer.as_ref().ok()?;
    let code = message.metadata.response_code;
    if !message.metadata.authoritative
        || !matches!(code, ResponseCode::NoError | ResponseCode::NXDomain)
    {
        return None;
    }
    Some(
        message
            .answers
            .iter()
            .filter(|r| r.name == *host)
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect(),
    )
}

/// The parent's set (`None` when no server answered) and a line per group
/// of servers that said something else.
fn parent_view(answers: &[ParentAnswer]) -> (Option<Vec<String>>, Vec<String>) {
    let mut groups: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
    for answer in answers.iter().filter(|a| a.error.is_none()) {
        let set = name_set(&answer.nameservers);
        match groups.iter_mut().find(|(s, _)| *s == set) {
            Some((_, servers)) => servers.push(&answer.server),
            None => groups.push((set, vec![&answer.server])),
        }
    }
    // The largest group; the earliest among equals (max_by_key keeps the last).
    let Some(chosen) = (0..groups.len()).rev().max_by_key(|i| groups[*i].1.len()) else {
        return (None, Vec::new());
    };
    let (set, servers) = &groups[chosen];
    let disagreement = groups
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != chosen)
        .map(|(_, (other, others))| {
            format!(
                "Parent {} while {}.",
                delegates(others, other),
                delegates(servers, set)
            )
        })
        .collect();
    (Some(set.clone()), disagreement)
}

/// "servers p1, p2 delegate to a, b".
fn delegates(servers: &[&str], set: &[String]) -> String {
    let (noun, verb, does) = if servers.len() == 1 {
        ("server", "delegates", "does")
    } else {
        ("servers", "delegate", "do")
    };
    let servers = servers.join(", ");
    if set.is_empty() {
        format!("{noun} {servers} {does} not delegate the domain")
    } else {
        format!("{noun} {servers} {verb} to {}", set.join(", "))
    }
}

/// Who holds a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who<'a> {
    /// The expected set, and what it is called.
    Expected(&'a str),
    Parent,
    Registry,
    Child(&'a str),
}

/// The views grouped by set, in the order of their first holder.
fn group<'a>(views: Vec<(Who<'a>, &'a [String])>) -> Vec<(&'a [String], Vec<Who<'a>>)> {
    let mut groups: Vec<(&[String], Vec<Who>)> = Vec::new();
    for (who, set) in views {
        match groups.iter_mut().find(|(s, _)| *s == set) {
            Some((_, holders)) => holders.push(who),
            None => groups.push((set, vec![who])),
        }
    }
    groups
}

/// "the parent and the child servers list a, b": the holders of a view
/// and its set. The child servers are named only when those that answer
/// (`answering`, of `children` in all) do not all hold it, so that no name
/// is printed twice.
fn lists(holders: &[Who], set: &[String], answering: &[&str], children: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let holders_children: Vec<&str> = holders
        .iter()
        .filter_map(|w| match w {
            Who::Child(name) => Some(*name),
            _ => None,
        })
        .collect();
    if holders.contains(&Who::Parent) {
        parts.push("the parent".to_owned());
    }
    if holders.contains(&Who::Registry) {
        parts.push("the registry".to_owned());
    }
    let every_one = children == answering.len();
    match holders_children.as_slice() {
        [] => {}
        [_] if answering.len() == 1 && every_one => parts.push("the child server".to_owned()),
        [_] if answering.len() == 1 => parts.push("the child server that answers".to_owned()),
        all if all.len() == answering.len() && every_one => {
            parts.push("the child servers".to_owned());
        }
        all if all.len() == answering.len() => {
            parts.push("the child servers that answer".to_owned());
        }
        [one] => parts.push(format!("the child server {one}")),
        some => parts.push(format!("the child servers {}", some.join(", "))),
    }
    if let Some(name) = holders.iter().find_map(|w| match w {
        Who::Expected(name) => Some(*name),
        _ => None,
    }) {
        parts.push(name.to_owned());
    }
    let verb = if parts.len() == 1 && holders_children.len() <= 1 {
        "lists"
    } else {
        "list"
    };
    let who = match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    if set.is_empty() {
        format!("{who} {verb} no name servers")
    } else {
        format!("{who} {verb} {}", set.join(", "))
    }
}

/// `text` with a capital first letter.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

// === the pure part: reading answers ===

/// Glue: addresses of a name server, from the parent's additional section.
type Glue = BTreeMap<String, Vec<IpAddr>>;

/// What one parent server's answer to `domain NS` says, and the glue it
/// carries for names inside `bailiwick` (the parent's zone; addresses of
/// names outside it are not the parent's to give, RFC 8499 §7).
pub fn read_parent_answer(
    server: SocketAddr,
    domain: &Name,
    bailiwick: &Name,
    answer: &Result<Message, AskError>,
) -> (ParentAnswer, Glue) {
    let classified = match answer {
        Ok(message) => dns::classify(domain, &Ok(message.clone())),
        Err(error) => Delegation::Failed(error.to_string()),
    };
    let (nameservers, error) = match classified {
        Delegation::Delegated(nameservers) => (nameservers, None),
        Delegation::NoSuchName { .. } | Delegation::NameExists => (Vec::new(), None),
        Delegation::ReferredElsewhere { zone } => (
            Vec::new(),
            Some(format!("a referral to zone {zone}, not to the domain")),
        ),
        Delegation::Failed(reason) => (Vec::new(), Some(reason)),
    };
    let mut glue = Glue::new();
    if let Ok(message) = answer {
        for record in &message.additionals {
            let ip = match &record.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                _ => continue,
            };
            let owner = normalize(&record.name.to_ascii());
            if bailiwick.zone_of(&record.name) && nameservers.contains(&owner) {
                glue.entry(owner).or_default().push(ip);
            }
        }
    }
    let answer = ParentAnswer {
        server: server.to_string(),
        nameservers,
        error,
    };
    (answer, glue)
}

/// What one address of a child server answered to `domain NS`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AddressAnswer {
    answered: bool,
    authoritative: bool,
    nameservers: Vec<String>,
    error: Option<String>,
}

/// Reads a child server's answer to `domain NS`: NOERROR is an answer, AA
/// set is authority, the NS set is that of an authoritative answer section.
fn read_child_answer(domain: &Name, answer: &Result<Message, AskError>) -> AddressAnswer {
    let message = match answer {
        Ok(message) => message,
        Err(error) => {
            return AddressAnswer {
                answered: false,
                authoritative: false,
                nameservers: Vec::new(),
                error: Some(error.to_string()),
            };
        }
    };
    let authoritative = message.metadata.authoritative;
    let code = message.metadata.response_code;
    // A referral (AA=0) repeats the parent's set: only an authoritative
    // answer tells the child's own.
    let section: &[_] = if authoritative { &message.answers } else { &[] };
    let nameservers = name_set(
        &section
            .iter()
            .filter(|r| r.name == *domain)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_ascii()),
                _ => None,
            })
            .collect::<Vec<_>>(),
    );
    let error = if code != ResponseCode::NoError {
        Some(mnemonic(code))
    } else if !authoritative {
        Some("answers without authority (AA=0)".to_owned())
    } else if nameservers.is_empty() {
        Some("authoritative, but without NS records for the domain".to_owned())
    } else {
        None
    };
    AddressAnswer {
        answered: code == ResponseCode::NoError,
        authoritative: code == ResponseCode::NoError && authoritative,
        nameservers,
        error,
    }
}

/// The RFC 1035 §4.1.1 (and RFC 6895) name of a response code, as `dig`
/// prints it: `REFUSED`, `SERVFAIL`…
fn mnemonic(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        other => return format!("RCODE {}", u16::from(other)),
    };
    name.to_owned()
}

/// One child server from the answers of its addresses (or, without any,
/// from why it has none).
fn child_server(
    name: String,
    addresses: Result<Vec<IpAddr>, String>,
    answers: Vec<(IpAddr, AddressAnswer)>,
) -> ChildServer {
    let addresses = match addresses {
        Ok(addresses) if !addresses.is_empty() => addresses,
        Ok(_) => return unreachable_server(name, "no address".to_owned()),
        Err(why) => return unreachable_server(name, format!("no address: {why}")),
    };
    let errors: Vec<String> = answers
        .iter()
        .filter_map(|(ip, a)| Some(format!("{} from {ip}", a.error.as_ref()?)))
        .collect();
    let nameservers: Vec<String> = answers
        .iter()
        .filter(|(_, a)| a.authoritative)
        .flat_map(|(_, a)| a.nameservers.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ChildServer {
        name,
        addresses: addresses.iter().map(ToString::to_string).collect(),
        answered: answers.iter().all(|(_, a)| a.answered),
        authoritative: answers.iter().all(|(_, a)| a.authoritative),
        nameservers,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}

fn unreachable_server(name: String, why: String) -> ChildServer {
    ChildServer {
        name,
        error: Some(why),
        ..ChildServer::default()
    }
}

// === the I/O: asking the servers ===

/// Settings of the delegation probe.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    /// How long each round of queries (the parent's servers, then the
    /// domain's own) may take.
    pub timeout: Duration,
    /// The port the domain's own servers are asked on (53; tests run them
    /// elsewhere).
    pub nameserver_port: u16,
}

impl ProbeSettings {
    /// How long a whole probe may take: three rounds (the parent's servers,
    /// their referrals, the domain's own servers), each bounded by
    /// [`ProbeSettings::timeout`], and a second to spare.
    pub fn probe_timeout(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(1)
    }
}

/// Asks a domain's parent and own servers for its delegation. Cheap to
/// share; the sockets are the dns checker's.
#[derive(Debug, Clone)]
pub struct Prober {
    dns: Arc<DnsChecker>,
    resolver: Arc<StubResolver>,
    settings: ProbeSettings,
    expected_name: &'static str,
}

impl Prober {
    /// A prober asking through `dns` (its parent servers, sockets and
    /// request budgets) and finding the addresses of out-of-bailiwick name
    /// servers through `resolver`.
    pub fn new(dns: Arc<DnsChecker>, resolver: Arc<StubResolver>, settings: ProbeSettings) -> Self {
        Self {
            dns,
            resolver,
            settings,
            expected_name: EXPECTED_NAMESERVERS,
        }
    }

    /// This prober, its drift sentences calling the expected name servers
    /// `name` rather than [`EXPECTED_NAMESERVERS`] (`check --health` names
    /// its option, `--expected-nameserver`).
    #[must_use]
    pub fn naming_expected(self, name: &'static str) -> Self {
        Self {
            expected_name: name,
            ..self
        }
    }

    /// The delegation of `domain` at each of its parent's servers and at
    /// each of its own, compared with `registry` (the RDAP name servers;
    /// empty: unknown) and `expected` (empty: no expectation).
    ///
    /// # Errors
    /// [`Error`] when the parent's servers cannot be found, or none of them
    /// answers (the caller keeps its previous view). Everything the
    /// domain's own servers do wrong is in the report instead.
    pub async fn probe(
        &self,
        domain: &DomainName,
        registry: &[String],
        expected: &[String],
    ) -> Result<DelegationReport> {
        let name = fqdn(domain.as_str())?;
        let bailiwick = fqdn(domain.tld())?;
        let servers = tokio::time::timeout(
            self.settings.timeout,
            self.dns.authoritative_servers(domain),
        )
        .await
        .map_err(|_| Error::ParentServersTimeout {
            domain: domain.as_str().to_owned(),
        })?
        .map_err(|source| Error::ParentServers {
            domain: domain.as_str().to_owned(),
            source,
        })?;

        let deadline = Instant::now() + self.settings.timeout;
        let asked = servers.iter().map(|server| async {
            let answer = self.dns.ask(*server, &name, RecordType::NS, deadline).await;
            read_parent_answer(*server, &name, &bailiwick, &answer)
        });
        let mut parent_servers = Vec::new();
        let mut glue = Glue::new();
        for (answer, found) in join_all(asked).await {
            parent_servers.push(answer);
            for (host, ips) in found {
                glue.entry(host).or_default().extend(ips);
            }
        }

        if parent_servers.iter().all(|a| a.error.is_some()) {
            let domain = domain.as_str().to_owned();
            let errors = parent_servers
                .iter()
                .map(|a| format!("{}: {}", a.server, a.error.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(if self.dns.uses_configured_servers() {
                Error::ConfiguredServersSilent { domain, errors }
            } else {
                Error::ParentSilent { domain, errors }
            });
        }

        let hosts: BTreeSet<String> = parent_servers
            .iter()
            .flat_map(|a| a.nameservers.iter().cloned())
            .chain(name_set(registry))
            .collect();
        // In-domain name servers with glue: their addresses are asked of
        // the domain's servers too.
        let in_domain: BTreeMap<String, BTreeSet<IpAddr>> = glue
            .iter()
            .filter(|(host, _)| Name::from_ascii(host.as_str()).is_ok_and(|h| name.zone_of(&h)))
            .map(|(host, ips)| (host.clone(), ips.iter().copied().collect()))
            .collect();
        let in_domain_names: Vec<(String, Name)> = in_domain
            .keys()
            .filter_map(|host| Some((host.clone(), fqdn(host).ok()?)))
            .collect();
        let asked = join_all(
            hosts
                .into_iter()
                .map(|host| self.ask_child(host, &name, &glue, &in_domain_names)),
        )
        .await;
        let mut child = Vec::with_capacity(asked.len());
        let mut served = Vec::new();
        for asked in asked {
            let (server, addresses) = asked.map_err(|(host, errors)| Error::ResolversSilent {
                domain: domain.as_str().to_owned(),
                host,
                errors,
            })?;
            child.push(server);
            served.extend(addresses);
        }
        let mut report = assemble_naming(
            parent_servers,
            registry,
            child,
            expected,
            self.expected_name,
        );
        report.glue_mismatch = glue_mismatches(&in_domain, &served);
        Ok(report)
    }

    /// Asks every address of the name server `host` for `domain NS`, and
    /// for the addresses of each of `in_domain` (the in-domain name servers
    /// with glue).
    ///
    /// # Errors
    /// `(host, why)` when no resolver answered for the address of `host`
    /// ([`LookupError::Unanswered`](dns::stub::LookupError::Unanswered)).
    async fn ask_child(
        &self,
        host: String,
        domain: &Name,
        glue: &Glue,
        in_domain: &[(String, Name)],
    ) -> std::result::Result<(ChildServer, Vec<ServedAddresses>), (String, String)> {
        let addresses = match glue.get(&host) {
            Some(ips) => Ok(ips.clone()),
            None => match self.resolver.lookup_ip(&host).await {
                Ok(ips) => Ok(ips.to_vec()),
                Err(dns::stub::LookupError::Unanswered(why)) => return Err((host, why)),
                Err(other) => Err(other.to_string()),
            },
        };
        let Ok(ips) = &addresses else {
            return Ok((child_server(host, addresses, Vec::new()), Vec::new()));
        };
        let ips = one_family(ips);
        let deadline = Instant::now() + self.settings.timeout;
        let several = ips.len() > 1;
        let host = &host;
        let asked = join_all(ips.iter().map(|ip| async move {
            let server = SocketAddr::new(*ip, self.settings.nameserver_port);
            let label = if several {
                format!("{host} at {ip}")
            } else {
                host.clone()
            };
            let (answer, served) = tokio::join!(
                self.dns.ask(server, domain, RecordType::NS, deadline),
                join_all(in_domain.iter().map(|(ns, ns_name)| {
                    let label = label.clone();
                    async move {
                        let (a, aaaa) = tokio::join!(
                            self.dns.ask(server, ns_name, RecordType::A, deadline),
                            self.dns.ask(server, ns_name, RecordType::AAAA, deadline),
                        );
                        let addresses = read_served_addresses(ns_name, &a)
                            .zip(read_served_addresses(ns_name, &aaaa))
                            .map(|(a, aaaa)| a.into_iter().chain(aaaa).collect());
                        ServedAddresses {
                            server: label,
                            host: ns.clone(),
                            addresses,
                        }
                    }
                })),
            );
            ((*ip, read_child_answer(domain, &answer)), served)
        }))
        .await;
        let (answers, served): (Vec<_>, Vec<_>) = asked.into_iter().unzip();
        Ok((
            child_server(host.clone(), Ok(ips), answers),
            served.into_iter().flatten().collect(),
        ))
    }
}

/// The IPv4 addresses when there are any, else the IPv6 ones (hosts
/// without IPv6 routes are common in clusters), sorted, without duplicates.
fn one_family(ips: &[IpAddr]) -> Vec<IpAddr> {
    let v4: BTreeSet<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv4).collect();
    if v4.is_empty() {
        ips.iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        v4.into_iter().collect()
    }
}

/// `name` as a fully qualified DNS name.
pub(super) fn fqdn(name: &str) -> Result<Name> {
    let mut parsed = Name::from_ascii(name).map_err(|e| Error::BadName {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::{
        op::{MessageType, OpCode},
        rr::{
            Record,
            rdata::{A, NS},
        },
    };

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_view_keeps_the_views_and_counts_disagreement_as_drift() {
        let lame = ChildServer {
            name: "ns2.example.test".to_owned(),
            addresses: names(&["192.0.2.2"]),
            answered: true,
            authoritative: false,
            nameservers: Vec::new(),
            error: Some("192.0.2.2: not authoritative".to_owned()),
        };
        let report = DelegationReport {
            parent: names(&["ns1.example.test", "ns2.example.test"]),
            parent_servers: vec![parent("192.0.2.53:53", &["ns1.example.test"])],
            parent_disagreement: names(&["192.0.2.53:53 gives ns1.example.test"]),
            registry: names(&["ns1.example.test"]),
            child: vec![child("ns1.example.test", &["ns1.example.test"]), lame],
            drift: names(&["the registry lists ns1.example.test"]),
            lame: names(&["ns2.example.test: not authoritative"]),
            glue_mismatch: names(&["the parent's glue for ns1.example.test differs"]),
        };
        let view = view(report);
        assert_eq!(
            view.parent,
            names(&["ns1.example.test", "ns2.example.test"])
        );
        assert_eq!(view.registry, names(&["ns1.example.test"]));
        assert_eq!(
            view.child,
            vec![
                crate::resource::health::ChildView {
                    server: "ns1.example.test".to_owned(),
                    answered: true,
                    authoritative: true,
                    nameservers: names(&["ns1.example.test"]),
                },
                crate::resource::health::ChildView {
                    server: "ns2.example.test".to_owned(),
                    answered: true,
                    authoritative: false,
                    nameservers: Vec::new(),
                },
            ]
        );
        assert_eq!(
            view.drift,
            names(&[
                "the registry lists ns1.example.test",
                "192.0.2.53:53 gives ns1.example.test",
                "the parent's glue for ns1.example.test differs"
            ])
        );
        assert_eq!(view.lame, names(&["ns2.example.test: not authoritative"]));
        assert_eq!(
            super::view(DelegationReport::default()),
            crate::resource::health::DelegationView::default()
        );
    }

    #[test]
    fn glue_is_compared_with_the_authoritative_addresses_served() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let set = |ips: &[&str]| ips.iter().map(|s| ip(s)).collect::<BTreeSet<_>>();
        let glue = BTreeMap::from([
            ("ns1.example.test".to_owned(), set(&["192.0.2.1"])),
            (
                "ns2.example.test".to_owned(),
                set(&["192.0.2.2", "2001:db8::2"]),
            ),
        ]);
        let served = |server: &str, host: &str, addresses: Option<&[&str]>| ServedAddresses {
            server: server.to_owned(),
            host: host.to_owned(),
            addresses: addresses.map(set),
        };
        // Agreeing, lame (None) and address-less answers give nothing.
        let quiet = [
            served("ns1.example.test", "ns1.example.test", Some(&["192.0.2.1"])),
            served("ns2.example.test", "ns1.example.test", None),
            served("ns3.example.test", "ns1.example.test", Some(&[])),
            served(
                "ns1.example.test",
                "ns2.example.test",
                Some(&["2001:db8::2", "192.0.2.2"]),
            ),
        ];
        assert_eq!(glue_mismatches(&glue, &quiet), Vec::<String>::new());
        // Two servers serve another address for ns1; one lacks ns2's AAAA.
        let drifted = [
            served("ns1.example.test", "ns1.example.test", Some(&["192.0.2.9"])),
            served("ns2.example.test", "ns1.example.test", Some(&["192.0.2.9"])),
            served("ns1.example.test", "ns2.example.test", Some(&["192.0.2.2"])),
        ];
        assert_eq!(
            glue_mismatches(&glue, &drifted),
            [
                "the parent's glue for ns1.example.test (192.0.2.1) differs from the addresses \
                 ns1.example.test, ns2.example.test serve for it (192.0.2.9): update the glue at \
                 your registrar or the address records in your zone so that they agree",
                "the parent's glue for ns2.example.test (192.0.2.2, 2001:db8::2) differs from the \
                 addresses ns1.example.test serves for it (192.0.2.2): update the glue at your \
                 registrar or the address records in your zone so that they agree",
            ]
        );
        // Only names with glue are compared.
        assert!(glue_mismatches(&BTreeMap::new(), &drifted).is_empty());
    }

    #[test]
    fn served_addresses_need_an_authoritative_answer() {
        let host = Name::from_ascii("ns1.example.test.").unwrap();
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.authoritative = true;
        message.answers.push(Record::from_rdata(
            host.clone(),
            300,
            RData::A(A("192.0.2.9".parse().unwrap())),
        ));
        assert_eq!(
            read_served_addresses(&host, &Ok(message.clone())),
            Some(vec!["192.0.2.9".parse().unwrap()])
        );
        message.metadata.authoritative = false;
        assert_eq!(read_served_addresses(&host, &Ok(message.clone())), None);
        message.metadata.authoritative = true;
        message.answers.clear();
        message.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(
            read_served_addresses(&host, &Ok(message.clone())),
            Some(vec![])
        );
        message.metadata.response_code = ResponseCode::Refused;
        assert_eq!(read_served_addresses(&host, &Ok(message)), None);
    }

    fn parent(server: &str, nameservers: &[&str]) -> ParentAnswer {
        ParentAnswer {
            server: server.to_owned(),
            nameservers: names(nameservers),
            error: None,
        }
    }

    fn child(name: &str, nameservers: &[&str]) -> ChildServer {
        ChildServer {
            name: name.to_owned(),
            addresses: names(&["192.0.2.1"]),
            answered: true,
            authoritative: true,
            nameservers: names(nameservers),
            error: None,
        }
    }

    const SET: [&str; 2] = ["a.ns.test", "b.ns.test"];

    #[test]
    fn agreeing_views_are_healthy() {
        let report = assemble(
            vec![parent("p1", &SET), parent("p2", &SET)],
            &names(&["B.NS.TEST.", "a.ns.test"]),
            vec![child("a.ns.test", &SET), child("b.ns.test", &SET)],
            &names(&["a.ns.test.", "b.ns.test"]),
        );
        assert_eq!(report.parent, names(&SET));
        assert_eq!(report.registry, names(&SET), "normalised and sorted");
        assert!(report.is_healthy(), "{report:#?}");
    }

    #[test]
    fn unknown_registry_and_no_expectation_are_not_compared() {
        let report = assemble(
            vec![parent("p1", &SET)],
            &[],
            vec![child("a.ns.test", &SET)],
            &[],
        );
        assert!(report.drift.is_empty(), "{:?}", report.drift);
    }

    #[test]
    fn each_differing_view_is_one_sentence_against_the_parent() {
        let report = assemble(
            vec![parent("p1", &SET)],
            &names(&["a.ns.test", "c.ns.test"]),
            vec![child("a.ns.test", &SET), child("b.ns.test", &SET)],
            &[],
        );
        assert_eq!(
            report.drift,
            ["The registry lists a.ns.test, c.ns.test; \
              the parent and the child servers list a.ns.test, b.ns.test."]
        );
    }

    #[test]
    fn each_differing_view_is_one_sentence_against_the_expectation() {
        let report = assemble(
            vec![parent("p1", &SET)],
            &names(&["a.ns.test", "c.ns.test"]),
            vec![child("a.ns.test", &SET), child("b.ns.test", &["a.ns.test"])],
            &names(&SET),
        );
        assert_eq!(
            report.drift,
            [
                "The registry lists a.ns.test, c.ns.test; the parent, the child server a.ns.test \
                 and expectedNameservers list a.ns.test, b.ns.test.",
                "The child server b.ns.test lists a.ns.test; the parent, the child server \
                 a.ns.test and expectedNameservers list a.ns.test, b.ns.test.",
            ]
        );
        for line in &report.drift {
            assert!(
                !line.contains("a.ns.test (a.ns.test") && !line.contains("b.ns.test (a.ns.test"),
                "a server's name followed by a set: {line}"
            );
        }
        // Every view agrees, but not with the expectation.
        let report = assemble(
            vec![parent("p1", &SET)],
            &names(&SET),
            vec![child("a.ns.test", &SET), child("b.ns.test", &SET)],
            &names(&["a.ns.test"]),
        );
        assert_eq!(
            report.drift,
            [
                "The parent, the registry and the child servers list a.ns.test, b.ns.test; \
              expectedNameservers lists a.ns.test."
            ]
        );
        // A one-off run names its option instead.
        let report = assemble_naming(
            vec![parent("p1", &SET)],
            &names(&SET),
            vec![child("a.ns.test", &SET), child("b.ns.test", &SET)],
            &names(&["a.ns.test"]),
            "--expected-nameserver",
        );
        assert_eq!(
            report.drift,
            [
                "The parent, the registry and the child servers list a.ns.test, b.ns.test; \
              --expected-nameserver lists a.ns.test."
            ]
        );
    }

    #[test]
    fn a_parent_that_does_not_delegate_is_a_view() {
        let report = assemble(vec![parent("p1", &[])], &names(&SET), Vec::new(), &[]);
        assert_eq!(
            report.drift,
            ["The registry lists a.ns.test, b.ns.test; the parent lists no name servers."]
        );
    }

    #[test]
    fn the_parent_set_is_the_majority_and_the_rest_disagree() {
        let failed = ParentAnswer {
            error: Some("no answer (timed out)".to_owned()),
            ..parent("p4", &[])
        };
        let report = assemble(
            vec![
                parent("p1", &["a.ns.test"]),
                parent("p2", &SET),
                parent("p3", &SET),
                failed,
            ],
            &[],
            Vec::new(),
            &[],
        );
        assert_eq!(report.parent, names(&SET));
        assert_eq!(
            report.parent_disagreement,
            [
                "Parent server p1 delegates to a.ns.test while servers p2, p3 delegate to \
              a.ns.test, b.ns.test."
            ],
            "a server without an answer does not disagree"
        );
        // A tie goes to the server asked first.
        let (set, disagreement) = parent_view(&[parent("p1", &[]), parent("p2", &SET)]);
        assert_eq!(set, Some(Vec::new()));
        assert_eq!(
            disagreement,
            [
                "Parent server p2 delegates to a.ns.test, b.ns.test while server p1 does not \
              delegate the domain."
            ]
        );
        assert_eq!(parent_view(&[]), (None, Vec::new()));
    }

    #[test]
    fn lame_servers_are_named_with_why_and_left_out_of_the_child_view() {
        let refused = ChildServer {
            answered: false,
            authoritative: false,
            nameservers: Vec::new(),
            error: Some("REFUSED from 192.0.2.1".to_owned()),
            ..child("b.ns.test", &[])
        };
        let report = assemble(
            vec![parent("p1", &SET)],
            &[],
            vec![child("a.ns.test", &SET), refused],
            &[],
        );
        assert_eq!(report.lame, ["b.ns.test: REFUSED from 192.0.2.1"]);
        assert!(report.drift.is_empty(), "{:?}", report.drift);
        assert!(!report.is_healthy());
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::NS(NS(name(target))))
    }

    fn a(owner: &str, ip: [u8; 4]) -> Record {
        let [w, x, y, z] = ip;
        Record::from_rdata(name(owner), 300, RData::A(A::new(w, x, y, z)))
    }

    fn response(code: ResponseCode, authoritative: bool) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        message.metadata.authoritative = authoritative;
        message
    }

    #[test]
    fn a_referral_gives_the_parent_set_and_glue_inside_the_parent_zone_only() {
        let mut referral = response(ResponseCode::NoError, false);
        referral.add_authorities([
            ns("foo.test.", "ns1.foo.test."),
            ns("foo.test.", "ns.host.example."),
        ]);
        referral.add_additionals([
            a("ns1.foo.test.", [192, 0, 2, 1]),
            // Not the parent's to give.
            a("ns.host.example.", [192, 0, 2, 66]),
            // Not a server of the domain.
            a("www.other.test.", [192, 0, 2, 7]),
        ]);
        let server: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let (answer, glue) =
            read_parent_answer(server, &name("foo.test."), &name("test."), &Ok(referral));
        assert_eq!(
            answer,
            ParentAnswer {
                server: "192.0.2.53:53".to_owned(),
                nameservers: names(&["ns.host.example", "ns1.foo.test"]),
                error: None,
            }
        );
        assert_eq!(
            glue,
            Glue::from([(
                "ns1.foo.test".to_owned(),
                vec![IpAddr::from([192, 0, 2, 1])]
            )])
        );
        let (answer, glue) = read_parent_answer(
            server,
            &name("foo.test."),
            &name("test."),
            &Err(AskError::Query(dns::QueryError::Timeout)),
        );
        assert_eq!(answer.error.as_deref(), Some("no answer (timed out)"));
        assert!(answer.nameservers.is_empty() && glue.is_empty());
        let nx = response(ResponseCode::NXDomain, true);
        let (answer, _) = read_parent_answer(server, &name("foo.test."), &name("test."), &Ok(nx));
        assert_eq!((answer.nameservers.len(), answer.error), (0, None));
    }

    #[test]
    fn a_child_answer_counts_only_with_authority() {
        let domain = name("foo.test.");
        let mut good = response(ResponseCode::NoError, true);
        good.add_answers([
            ns("foo.test.", "NS1.foo.test."),
            ns("foo.test.", "ns2.foo.test."),
        ]);
        assert_eq!(
            read_child_answer(&domain, &Ok(good)),
            AddressAnswer {
                answered: true,
                authoritative: true,
                nameservers: names(&["ns1.foo.test", "ns2.foo.test"]),
                error: None,
            }
        );
        let mut referral = response(ResponseCode::NoError, false);
        referral.add_authorities([ns("foo.test.", "ns1.foo.test.")]);
        let read = read_child_answer(&domain, &Ok(referral));
        assert!(read.answered && !read.authoritative && read.nameservers.is_empty());
        assert_eq!(
            read.error.as_deref(),
            Some("answers without authority (AA=0)")
        );
        let read = read_child_answer(&domain, &Ok(response(ResponseCode::Refused, false)));
        assert!(!read.answered && !read.authoritative);
        assert_eq!(read.error.as_deref(), Some("REFUSED"));
        assert_eq!(mnemonic(ResponseCode::Unknown(3841)), "RCODE 3841");
        let read = read_child_answer(&domain, &Ok(response(ResponseCode::ServFail, true)));
        assert!(!read.answered && !read.authoritative, "{read:?}");
        let read = read_child_answer(&domain, &Err(AskError::Query(dns::QueryError::Timeout)));
        assert_eq!(read.error.as_deref(), Some("no answer (timed out)"));
    }

    #[test]
    fn a_child_server_is_good_only_when_every_address_is() {
        let good = AddressAnswer {
            answered: true,
            authoritative: true,
            nameservers: names(&SET),
            error: None,
        };
        let silent = AddressAnswer {
            answered: false,
            authoritative: false,
            nameservers: Vec::new(),
            error: Some("no answer (timed out)".to_owned()),
        };
        let (v4, other) = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        let server = child_server(
            "a.ns.test".to_owned(),
            Ok(vec![v4, other]),
            vec![(v4, good), (other, silent)],
        );
        assert!(server.is_lame());
        assert_eq!(server.nameservers, names(&SET));
        assert_eq!(
            server.error.as_deref(),
            Some("no answer (timed out) from 192.0.2.2")
        );
        let nowhere = child_server(
            "b.ns.test".to_owned(),
            Err("NXDOMAIN".to_owned()),
            Vec::new(),
        );
        assert!(nowhere.is_lame());
        assert_eq!(nowhere.error.as_deref(), Some("no address: NXDOMAIN"));
    }

    #[test]
    fn ipv4_is_asked_when_there_is_any() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(one_family(&[v6, v4, v4]), [v4]);
        assert_eq!(one_family(&[v6]), [v6]);
    }

    #[test]
    fn the_report_serialises_in_camel_case_without_empty_errors() {
        let report = assemble(
            vec![parent("p1", &SET)],
            &[],
            vec![child("a.ns.test", &SET)],
            &[],
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["parentServers"][0],
            serde_json::json!({"server": "p1", "nameservers": SET})
        );
        assert_eq!(json["child"][0]["authoritative"], true);
        assert!(json["child"][0].get("error").is_none());
        let back: DelegationReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
