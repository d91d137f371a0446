//! DNSSEC health: whether a domain's chain of trust validates, at every one
//! of its parent's and its own servers, and when its signatures expire.
//!
//! We validate ourselves, over the dns checker's wire engine with the DO
//! bit (RFC 3225), rather than through a validating resolver: a validating
//! resolver only says secure, bogus or insecure (and answers bogus data
//! with SERVFAIL), while an owner needs to know *what* is wrong (a DS that
//! matches no key, an expired signature) and *where* (the one server that
//! serves a stale copy). hickory-proto parses the records and checks the
//! signatures ([`Verifier`]); the rules around them are RFC 4035 §5.
//!
//! What is asked, per check of a health-mode domain:
//! - each of the parent's (TLD's) authoritative servers: `DS <domain>`;
//! - each address of each of the domain's own servers (from the delegation
//!   probe): `DNSKEY <domain>` and `NS <domain>` (the apex NS RRset, signed
//!   by the zone-signing key);
//! - once per TLD, cached (at most [`TLD_KEYS_MAX`], never past the
//!   earliest signature it rests on): `DNSKEY <tld>` from the TLD's
//!   servers, and (unless a key of the TLD is itself an anchor) `DNSKEY .`
//!   and `DS <tld>` from the recursive resolvers (CD=1: unvalidated);
//!   validated from the trust anchors (the root's KSKs by default,
//!   [`TrustAnchors::default`]).
//!
//! [`assess`] judges the answers and does no I/O; [`Prober::probe`] asks.
//!
//! Decisions:
//! - An RRset counts as signed when one of its RRSIGs passes every check of
//!   RFC 4035 §5.3.1 (signer = the zone, type covered, labels, the key's
//!   tag and algorithm, a zone key not revoked), verifies, and is inside its
//!   validity window (RFC 4034 §3.1.5, compared with RFC 1982 serial
//!   arithmetic, so the window wraps in 2106 correctly). An RRset whose
//!   only valid signature is out of its window is `SignatureExpired` (or
//!   `SignatureNotYetValid`), not `SignatureInvalid`.
//! - A DS matches a DNSKEY when the key tag, the algorithm and the digest
//!   agree (RFC 4034 §5.1); a DS whose algorithm or digest type is not
//!   supported is ignored, and a parent with only such DS records makes the
//!   domain insecure (RFC 4035 §5.2), reported as `NotDelegatedSecurely`.
//! - A TLD without a DS at the root is an insecure delegation (RFC 4035
//!   §4.3, §5.2), not a broken chain, when the root's answer proves the
//!   absence: NODATA with the root's NSEC at the TLD's name whose type
//!   bitmap has NS and neither DS nor SOA (RFC 6840 §4.4), signed validly
//!   by the root's keys. Every domain under it is then `InsecureParent`.
//!   Without that proof (no NSEC, an unsigned or bad one, NSEC3, which the
//!   root does not use and is not checked here) the missing DS is bogus:
//!   `ChainBroken`. A root that does not answer stays an error (not
//!   checked).
//! - `signatureExpiresAt` is the earliest expiry of the domain's own
//!   signatures (over its DNSKEY and NS RRsets, at every server); the
//!   registry's signature over the DS is not the owner's to renew.
//! - A server that does not answer is left out here: the delegation view
//!   reports it as lame.

use std::{
    collections::{BTreeSet, HashMap},
    fmt::Write as _,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use hickory_proto::{
    dnssec::{
        TrustAnchors, Verifier,
        rdata::{DNSKEY, DNSSECRData, DS, RRSIG},
    },
    op::{Message, ResponseCode},
    rr::{DNSClass, LowerName, Name, RData, Record, RecordType, SerialNumber},
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

use super::delegation::{ChildServer, fqdn};
use crate::{
    check::dns::{DnsChecker, stub::StubResolver},
    domain_name::DomainName,
    resource::health::DnssecView,
};

/// The TLD's validated keys are reused at most this long, and never past
/// the earliest expiry of the signatures they rest on.
pub const TLD_KEYS_MAX: Duration = Duration::from_secs(3600);

/// The `reason` of the `DNSSECValid` condition (and `status.health.dnssec.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The chain from the trust anchors to the domain validates at every
    /// server.
    Valid,
    /// No DS at the parent, no DNSKEY at the domain's servers.
    Unsigned,
    /// The domain's servers publish DNSKEYs but the parent has no (usable)
    /// DS: resolvers treat the domain as unsigned.
    NotDelegatedSecurely,
    /// The parent has a DS but the domain's servers (or one of them) serve
    /// no DNSKEY: validating resolvers fail on the domain.
    MissingDnskey,
    /// No DNSKEY matches the parent's DS.
    DsMismatch,
    /// A signature does not verify, or none is by a key of the zone.
    SignatureInvalid,
    /// An RRset comes without a signature.
    SignatureMissing,
    /// A signature's expiration is past.
    SignatureExpired,
    /// A signature's inception is still to come.
    SignatureNotYetValid,
    /// The chain from the trust anchors to the TLD does not validate.
    ChainBroken,
    /// The TLD itself is not signed: the root proves (signed NSEC) that it
    /// has no DS for it, an insecure delegation (RFC 4035 §4.3).
    /// Resolvers answer for every domain under it without validating, so
    /// the domain cannot be secure whatever it publishes. Like `Unsigned`,
    /// a problem only with `dnssec: Required`.
    InsecureParent,
}

impl Reason {
    /// The condition reason, CamelCase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "Valid",
            Self::Unsigned => "Unsigned",
            Self::NotDelegatedSecurely => "NotDelegatedSecurely",
            Self::MissingDnskey => "MissingDNSKEY",
            Self::DsMismatch => "DSMismatch",
            Self::SignatureInvalid => "SignatureInvalid",
            Self::SignatureMissing => "SignatureMissing",
            Self::SignatureExpired => "SignatureExpired",
            Self::SignatureNotYetValid => "SignatureNotYetValid",
            Self::ChainBroken => "ChainBroken",
            Self::InsecureParent => "InsecureParent",
        }
    }

    /// Every reason, in declaration order.
    pub const ALL: [Self; 11] = [
        Self::Valid,
        Self::Unsigned,
        Self::NotDelegatedSecurely,
        Self::MissingDnskey,
        Self::DsMismatch,
        Self::SignatureInvalid,
        Self::SignatureMissing,
        Self::SignatureExpired,
        Self::SignatureNotYetValid,
        Self::ChainBroken,
        Self::InsecureParent,
    ];

    /// Insecure rather than broken: resolvers answer for the domain without
    /// validating it. A problem only with `dnssec: Required`.
    pub fn is_insecure(self) -> bool {
        matches!(
            self,
            Self::Unsigned | Self::NotDelegatedSecurely | Self::InsecureParent
        )
    }
}

crate::words!(Reason, "DNSSEC reason");

/// Why the DNSSEC of a domain could not be looked at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The domain or its TLD is not a valid DNS name, or the parent's
    /// servers could not be found: the delegation probe's errors.
    #[error(transparent)]
    Delegation(#[from] super::delegation::Error),
    /// The records the chain of trust starts from could not be fetched
    /// (no resolver or TLD server answered).
    #[error("cannot fetch the keys of {zone}: {reason}")]
    ChainUnavailable {
        /// The zone.
        zone: String,
        /// Each failure.
        reason: String,
    },
    /// Neither a parent server nor a server of the domain answered.
    #[error("no server answered for {domain}")]
    NoAnswers {
        /// The domain.
        domain: String,
    },
}

// === the pure part ===

/// One server's answer to one query, or why there was none.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Who answered: an address, or a host name (and address).
    pub server: String,
    /// The answer, any response code; `Err`: no usable answer.
    pub message: Result<Message, String>,
}

/// What one address of one of the domain's servers answered.
#[derive(Debug, Clone)]
pub struct ChildAnswers {
    /// The server, as the messages name it (`ns1.example.test`, or
    /// `ns1.example.test at 192.0.2.1` when it has several addresses).
    pub server: String,
    /// Its answer to `DNSKEY <domain>` with DO=1.
    pub dnskey: Result<Message, String>,
    /// Its answer to `NS <domain>` with DO=1.
    pub ns: Result<Message, String>,
}

/// The validated keys of a zone (the TLD), with when the earliest
/// signature they rest on expires.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    /// The zone.
    pub zone: Name,
    /// Its zone keys (not revoked).
    pub keys: Vec<DNSKEY>,
    /// Unix seconds (RRSIG serial time) of the earliest expiration among
    /// the signatures of the chain down to these keys.
    pub expires: u32,
}

/// Why no key of the TLD is trusted: the chain above the domain breaks,
/// or provably ends (the TLD is not signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untrusted {
    /// The chain does not validate (bogus, RFC 4035 §5.5): why, as a
    /// sentence.
    Broken(String),
    /// The root proves with a signed NSEC that it has no DS for the TLD
    /// (an insecure delegation, RFC 4035 §4.3): what, as a sentence.
    Insecure(String),
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Broken(why) | Self::Insecure(why) => f.write_str(why),
        }
    }
}

impl From<String> for Untrusted {
    fn from(why: String) -> Self {
        Self::Broken(why)
    }
}

/// One thing wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Issue {
    reason: Reason,
    /// The sentence; [`SERVER`] stands for the server(s) it is about.
    message: String,
    /// The server the finding is about, if one.
    server: Option<String>,
}

/// Stands for the server names in an [`Issue`]'s message, so that the same
/// finding at several servers is one sentence naming them all.
const SERVER: &str = "{server}";

impl Issue {
    fn new(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            server: None,
        }
    }

    fn at(mut self, server: &str) -> Self {
        self.server = Some(server.to_owned());
        self
    }
}

/// What the signatures of one RRset say.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signed {
    /// A signature passes; the earliest expiration of those that do.
    Valid(u32),
    /// No RRSIG covers the RRset.
    Missing,
    /// The only signatures that verify are expired (the latest expiration).
    Expired(u32),
    /// The only signatures that verify are not valid yet (their inception).
    NotYetValid(u32),
    /// None verifies: why.
    Invalid(String),
}

/// Where `now` (Unix seconds mod 2³², RFC 4034 §3.1.5) is relative to the
/// signature's window, in RFC 1982 serial arithmetic: `Ok` inside
/// (edges included), else `Expired` or `NotYetValid`. A time exactly half
/// the serial space away compares as neither before nor after (RFC 1982
/// §3.2): outside.
fn window(inception: SerialNumber, expiration: SerialNumber, now: u32) -> Result<(), Signed> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let now = SerialNumber::new(now);
    let after_inception = matches!(now.partial_cmp(&inception), Some(Greater | Equal));
    let before_expiration = matches!(now.partial_cmp(&expiration), Some(Less | Equal));
    match (after_inception, before_expiration) {
        (true, true) => Ok(()),
        (_, false) if now.partial_cmp(&expiration) == Some(Greater) => {
            Err(Signed::Expired(expiration.get()))
        }
        _ => Err(Signed::NotYetValid(inception.get())),
    }
}

/// The key tag of `key` (RFC 4034 appendix B).
fn tag(key: &DNSKEY) -> Option<u16> {
    key.calculate_key_tag().ok()
}

/// The RRset `owner type` among `records`.
fn rrset<'a>(records: &'a [Record], owner: &Name, record_type: RecordType) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.name == *owner && r.record_type() == record_type)
        .collect()
}

/// The RRSIGs over `owner covered` among `records`.
fn rrsigs<'a>(records: &'a [Record], owner: &Name, covered: RecordType) -> Vec<&'a RRSIG> {
    records
        .iter()
        .filter(|r| r.name == *owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == covered => {
                Some(sig)
            }
            _ => None,
        })
        .collect()
}

/// The DNSKEYs of `owner` in `records`.
fn dnskeys(records: &[Record], owner: &Name) -> Vec<DNSKEY> {
    rrset(records, owner, RecordType::DNSKEY)
        .into_iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// The DS records of `owner` in `records`.
fn ds_records(records: &[Record], owner: &Name) -> Vec<DS> {
    rrset(records, owner, RecordType::DS)
        .into_iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect()
}

/// A key that may sign the zone's data: the zone-key bit set, not revoked
/// (RFC 4034 §2.1.1, RFC 5011 §7).
fn usable(key: &DNSKEY) -> bool {
    key.zone_key() && !key.revoke()
}

/// `ds` is of an algorithm and digest type we can check (RFC 4035 §5.2).
fn supported(ds: &DS) -> bool {
    ds.algorithm().is_supported() && ds.digest_type().is_supported()
}

/// `ds` names `key` of `owner`: same tag, same algorithm, same digest
/// (RFC 4034 §5.1.4); the key a usable zone key.
pub fn ds_matches(ds: &DS, owner: &Name, key: &DNSKEY) -> bool {
    usable(key)
        && ds.algorithm() == key.algorithm()
        && tag(key) == Some(ds.key_tag())
        && ds.covers(owner, key).unwrap_or(false)
}

/// Judges the signatures over the RRset `owner record_type` in `records`
/// (an answer section), made by the zone `zone` with one of `keys`, at
/// `now` (Unix seconds).
fn check_rrset(
    records: &[Record],
    owner: &Name,
    record_type: RecordType,
    zone: &Name,
    keys: &[&DNSKEY],
    now: u32,
) -> Signed {
    let sigs = rrsigs(records, owner, record_type);
    if sigs.is_empty() {
        return Signed::Missing;
    }
    let covered = rrset(records, owner, record_type);
    let mut valid: Option<u32> = None;
    let mut expired: Option<u32> = None;
    let mut not_yet: Option<u32> = None;
    let mut why = Vec::new();
    for sig in &sigs {
        let input = sig.input();
        let by = format!("the RRSIG by key {}", input.key_tag);
        if input.signer_name != *zone {
            why.push(format!(
                "{by} names signer {}, not the zone {zone}",
                input.signer_name
            ));
            continue;
        }
        if usize::from(input.num_labels) > usize::from(owner.num_labels()) {
            why.push(format!("{by} has more labels than its owner"));
            continue;
        }
        let candidates: Vec<&&DNSKEY> = keys
            .iter()
            .filter(|k| {
                usable(k) && k.algorithm() == input.algorithm && tag(k) == Some(input.key_tag)
            })
            .collect();
        if candidates.is_empty() {
            why.push(format!(
                "{by} (algorithm {}) is not by a usable key of {zone}",
                input.algorithm
            ));
            continue;
        }
        let verified = candidates.iter().any(|key| {
            key.verify_rrsig(owner, DNSClass::IN, sig, covered.iter().copied())
                .is_ok()
        });
        if !verified {
            why.push(format!("{by} does not verify"));
            continue;
        }
        match window(input.sig_inception, input.sig_expiration, now) {
            Ok(()) => {
                let at = input.sig_expiration.get();
                valid = Some(valid.map_or(at, |v| v.min(at)));
            }
            Err(Signed::Expired(at)) => expired = Some(expired.map_or(at, |e| e.max(at))),
            Err(Signed::NotYetValid(at)) => not_yet = Some(not_yet.map_or(at, |n| n.min(at))),
            Err(_) => {}
        }
    }
    match (valid, expired, not_yet) {
        (Some(at), _, _) => Signed::Valid(at),
        (None, Some(at), _) => Signed::Expired(at),
        (None, None, Some(at)) => Signed::NotYetValid(at),
        (None, None, None) => Signed::Invalid(why.join("; ")),
    }
}

/// The issue, if any, of `signed` for `what` (e.g. "the DNSKEY RRset of
/// example.com at ns1.example.com").
fn issue(signed: &Signed, what: &str) -> Option<Issue> {
    let (reason, message) = match signed {
        Signed::Valid(_) => return None,
        Signed::Missing => (Reason::SignatureMissing, format!("{what} is not signed")),
        Signed::Expired(at) => (
            Reason::SignatureExpired,
            format!("the signature over {what} expired at {}", serial_time(*at)),
        ),
        Signed::NotYetValid(at) => (
            Reason::SignatureNotYetValid,
            format!(
                "the signature over {what} is valid only from {}",
                serial_time(*at)
            ),
        ),
        Signed::Invalid(why) => (
            Reason::SignatureInvalid,
            format!("no signature over {what} validates: {why}"),
        ),
    };
    Some(Issue::new(reason, message))
}

/// An RRSIG time as an RFC 3339 instant (the serial read as Unix seconds,
/// right until 2106).
fn serial_time(at: u32) -> String {
    Timestamp::from_second(i64::from(at)).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// How the keys of a zone are trusted.
#[derive(Clone, Copy)]
enum Trust<'a> {
    /// Keys in the trust anchors.
    Anchors(&'a TrustAnchors),
    /// Keys matching one of these (validated) DS records.
    Ds(&'a [DS]),
}

/// The keys of `zone` from its `DNSKEY` answer, when a key trusted as
/// `trust` says signs the DNSKEY RRset validly at `now`; with the
/// expiration of that signature.
fn zone_keys(
    zone: &Name,
    answer: &Message,
    trust: Trust,
    now: u32,
) -> Result<(Vec<DNSKEY>, u32), String> {
    let keys = dnskeys(&answer.answers, zone);
    if keys.is_empty() {
        return Err(format!("{zone} has no DNSKEY"));
    }
    let lower = LowerName::from(zone);
    let entry: Vec<&DNSKEY> = keys
        .iter()
        .filter(|k| match trust {
            Trust::Anchors(anchors) => {
                !k.revoke() && anchors.contains_with_name(k.public_key(), &lower)
            }
            Trust::Ds(ds) => ds.iter().any(|d| supported(d) && ds_matches(d, zone, k)),
        })
        .collect();
    if entry.is_empty() {
        let against = match trust {
            Trust::Anchors(_) => "the trust anchors".to_owned(),
            Trust::Ds(ds) => format!("its DS ({})", ds_tags(ds)),
        };
        return Err(format!(
            "no DNSKEY of {zone} ({}) matches {against}",
            key_tags(&keys)
        ));
    }
    match check_rrset(&answer.answers, zone, RecordType::DNSKEY, zone, &entry, now) {
        Signed::Valid(at) => Ok((keys.into_iter().filter(usable).collect(), at)),
        other => Err(issue(&other, &format!("the DNSKEY RRset of {zone}"))
            .map_or_else(String::new, |i| i.message)),
    }
}

/// Whether one of `tld`'s keys in its `DNSKEY` answer is a trust anchor
/// itself (then the chain starts there, without the root).
pub fn anchored_at(anchors: &TrustAnchors, tld: &Name, tld_dnskey: &Message) -> bool {
    let lower = LowerName::from(tld);
    !tld.is_root()
        && dnskeys(&tld_dnskey.answers, tld)
            .iter()
            .any(|k| anchors.contains_with_name(k.public_key(), &lower))
}

/// The chain from `anchors` to `tld`: the root's keys (from `above`: the
/// root's `DNSKEY .` answer and the `DS <tld>` answer) validated by the
/// anchors, the TLD's DS signed by them, the TLD's keys (from `tld_dnskey`)
/// matching that DS and signing their own RRset. When the TLD's own key is
/// an anchor ([`anchored_at`]) the root is not needed (`above` may be
/// `None`).
///
/// # Errors
/// [`Untrusted::Broken`]: why the chain breaks, as a sentence;
/// [`Untrusted::Insecure`]: the root proves the TLD has no DS
/// ([`insecure_delegation`]).
pub fn chain(
    anchors: &TrustAnchors,
    tld: &Name,
    tld_dnskey: &Message,
    above: Option<(&Message, &Message)>,
    now: u32,
) -> Result<TrustedKeys, Untrusted> {
    if anchored_at(anchors, tld, tld_dnskey) {
        let (keys, expires) = zone_keys(tld, tld_dnskey, Trust::Anchors(anchors), now)?;
        return Ok(TrustedKeys {
            zone: tld.clone(),
            keys,
            expires,
        });
    }
    let Some((root_dnskey, tld_ds)) = above else {
        return Err(format!("no key of {tld} is a trust anchor").into());
    };
    let root = Name::root();
    let (root_keys, root_expires) = zone_keys(&root, root_dnskey, Trust::Anchors(anchors), now)?;
    if tld.is_root() {
        return Ok(TrustedKeys {
            zone: root,
            keys: root_keys,
            expires: root_expires,
        });
    }
    let ds = ds_records(&tld_ds.answers, tld);
    if ds.is_empty() {
        let root_refs: Vec<&DNSKEY> = root_keys.iter().collect();
        return Err(match insecure_delegation(tld_ds, tld, &root_refs, now) {
            Ok(()) => Untrusted::Insecure(format!(
                "the TLD {tld} is not signed (the root proves it has no DS for it): resolvers accept every domain under it without validating"
            )),
            Err(why) => Untrusted::Broken(format!("the root has no DS for {tld}, {why}")),
        });
    }
    let root_refs: Vec<&DNSKEY> = root_keys.iter().collect();
    let ds_expires = match check_rrset(&tld_ds.answers, tld, RecordType::DS, &root, &root_refs, now)
    {
        Signed::Valid(at) => at,
        other => {
            return Err(issue(&other, &format!("the DS RRset of {tld} in the root"))
                .map_or_else(String::new, |i| i.message)
                .into());
        }
    };
    let (keys, tld_expires) = zone_keys(tld, tld_dnskey, Trust::Ds(&ds), now)?;
    let expires = earliest(Some(earliest(Some(root_expires), ds_expires)), tld_expires);
    Ok(TrustedKeys {
        zone: tld.clone(),
        keys,
        expires,
    })
}

/// Whether `answer` (the root's answer to `DS <tld>`, with DO=1) proves that
/// the root has no DS for `tld`, the delegation of an unsigned TLD (RFC
/// 4035 §5.2): NODATA, with an NSEC owned by `tld` in the authority section
/// whose bitmap has NS and neither DS nor SOA (the parent side of the cut,
/// RFC 6840 §4.4), signed validly at `now` by one of `root_keys`.
///
/// # Errors
/// What is missing from the proof, as the end of a sentence ("and …").
pub fn insecure_delegation(
    answer: &Message,
    tld: &Name,
    root_keys: &[&DNSKEY],
    now: u32,
) -> Result<(), String> {
    if answer.metadata.response_code != ResponseCode::NoError {
        return Err(format!(
            "and answers {} for it",
            answer.metadata.response_code
        ));
    }
    let authority = &answer.authorities;
    let nsec = authority.iter().find_map(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) if r.name == *tld => Some(nsec),
        _ => None,
    });
    let Some(nsec) = nsec else {
        return Err("and no NSEC proves that it has none".to_owned());
    };
    let types = nsec.type_set();
    if types.contains(RecordType::DS)
        || !types.contains(RecordType::NS)
        || types.contains(RecordType::SOA)
    {
        return Err(
            "and its NSEC at the TLD's name is not that of an unsigned delegation (NS without DS and SOA)"
                .to_owned(),
        );
    }
    match check_rrset(
        authority,
        tld,
        RecordType::NSEC,
        &Name::root(),
        root_keys,
        now,
    ) {
        Signed::Valid(_) => Ok(()),
        other => Err(format!(
            "and {}",
            issue(&other, &format!("the NSEC of {tld} in the root"))
                .map_or_else(String::new, |i| i.message)
        )),
    }
}

fn key_tags(keys: &[DNSKEY]) -> String {
    let tags: BTreeSet<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}/{}",
                tag(k).map_or_else(|| "?".to_owned(), |t| t.to_string()),
                u8::from(k.algorithm())
            )
        })
        .collect();
    if tags.is_empty() {
        "none".to_owned()
    } else {
        format!("tags {}", tags.into_iter().collect::<Vec<_>>().join(", "))
    }
}

fn ds_tags(ds: &[DS]) -> String {
    let tags: BTreeSet<String> = ds
        .iter()
        .map(|d| format!("{}/{}", d.key_tag(), u8::from(d.algorithm())))
        .collect();
    format!("tags {}", tags.into_iter().collect::<Vec<_>>().join(", "))
}

/// The DS records to publish for the secure-entry-point keys in `keys` (all
/// zone keys when none is one), SHA-256, in zone-file form.
fn ds_to_publish(domain: &Name, keys: &[DNSKEY]) -> String {
    let usable_keys: Vec<&DNSKEY> = keys.iter().filter(|k| usable(k)).collect();
    let sep: Vec<&DNSKEY> = usable_keys
        .iter()
        .copied()
        .filter(|k| k.secure_entry_point())
        .collect();
    let chosen = if sep.is_empty() { usable_keys } else { sep };
    let mut lines = Vec::new();
    for key in chosen {
        let (Some(tag), Ok(digest)) = (
            tag(key),
            key.to_digest(domain, hickory_proto::dnssec::DigestType::SHA256),
        ) else {
            continue;
        };
        let ds = DS::new(
            tag,
            key.algorithm(),
            hickory_proto::dnssec::DigestType::SHA256,
            digest.as_ref().to_owned(),
        );
        lines.push(format!("{domain} IN DS {ds}"));
    }
    lines.join(" and ")
}

/// An answer that counts: NOERROR with authority.
fn authoritative(answer: &Result<Message, String>) -> Option<&Message> {
    answer
        .as_ref()
        .ok()
        .filter(|m| m.metadata.response_code == ResponseCode::NoError && m.metadata.authoritative)
}

/// The earliest of two serial times.
fn earliest(a: Option<u32>, b: u32) -> u32 {
    match a {
        Some(a)
            if SerialNumber::new(a).partial_cmp(&SerialNumber::new(b))
                == Some(std::cmp::Ordering::Less) =>
        {
            a
        }
        _ => b,
    }
}

/// The DNSSEC view of `domain` from its parent's answers to `DS <domain>`
/// (`parent`), its own servers' answers (`child`), the parent zone's
/// validated keys (`parent_keys`; `Err`: why the chain above breaks, or
/// that the TLD is provably unsigned)
/// at `now` (Unix seconds). Pure.
///
/// The view's `reason` is the worst finding (`ChainBroken` first, see
/// `severity`); its `problem` lists every finding, each naming the server.
/// Under a provably unsigned TLD the one finding is `InsecureParent`.
pub fn assess(
    domain: &Name,
    parent_keys: &Result<TrustedKeys, Untrusted>,
    parent: &[Answer],
    child: &[ChildAnswers],
    now: u32,
) -> DnssecView {
    let mut issues: Vec<Issue> = Vec::new();
    // The parent's DS set: the first authoritative answer that has one.
    let parent_ds: Vec<(&Answer, &Message, Vec<DS>)> = parent
        .iter()
        .filter_map(|a| {
            let message = authoritative(&a.message)?;
            Some((a, message, ds_records(&message.answers, domain)))
        })
        .collect();
    let ds: Vec<DS> = parent_ds
        .iter()
        .find(|(_, _, ds)| !ds.is_empty())
        .map(|(_, _, ds)| ds.clone())
        .unwrap_or_default();
    let ds_at_parent = !ds.is_empty();
    let child_keys: Vec<(&ChildAnswers, &Message, Vec<DNSKEY>)> = child
        .iter()
        .filter_map(|c| {
            let message = authoritative(&c.dnskey)?;
            Some((c, message, dnskeys(&message.answers, domain)))
        })
        .collect();
    let all_keys: Vec<DNSKEY> = child_keys
        .iter()
        .find(|(_, _, k)| !k.is_empty())
        .map(|(_, _, k)| k.clone())
        .unwrap_or_default();
    let dnskey_at_child = !all_keys.is_empty();

    let mut expires: Option<u32> = None;
    for (answers, dnskey_answer, _) in &child_keys {
        for message in [Some(*dnskey_answer), authoritative(&answers.ns)]
            .into_iter()
            .flatten()
        {
            for covered in [RecordType::DNSKEY, RecordType::NS] {
                for sig in rrsigs(&message.answers, domain, covered) {
                    if sig.input().signer_name == *domain {
                        expires = Some(earliest(expires, sig.input().sig_expiration.get()));
                    }
                }
            }
        }
    }

    let usable_ds: Vec<DS> = ds.iter().filter(|d| supported(d)).cloned().collect();
    let mut matched = false;
    match parent_keys {
        Err(Untrusted::Broken(why)) => issues.push(Issue::new(
            Reason::ChainBroken,
            format!("the chain of trust from the trust anchors breaks above the domain: {why}"),
        )),
        Err(Untrusted::Insecure(why)) => issues.push(Issue::new(
            Reason::InsecureParent,
            format!(
                "{why}: the domain cannot be secure under it (DS at the parent {ds_at_parent}, DNSKEY at the domain {dnskey_at_child})"
            ),
        )),
        Ok(_) if !ds_at_parent && !dnskey_at_child => issues.push(Issue::new(
            Reason::Unsigned,
            "the domain is not signed (no DS at the parent, no DNSKEY)".to_owned(),
        )),
        Ok(_) if !ds_at_parent => issues.push(Issue::new(
            Reason::NotDelegatedSecurely,
            format!(
                "the domain's servers serve DNSKEYs ({}) but the parent has no DS for it: publish {} through your registrar",
                key_tags(&all_keys),
                ds_to_publish(domain, &all_keys)
            ),
        )),
        Ok(_) if usable_ds.is_empty() => issues.push(Issue::new(
            Reason::NotDelegatedSecurely,
            format!(
                "the parent's DS records ({}) use only algorithms or digest types resolvers do not support: resolvers treat the domain as unsigned; publish {}",
                ds_tags(&ds),
                ds_to_publish(domain, &all_keys)
            ),
        )),
        Ok(_) if !dnskey_at_child => issues.push(Issue::new(
            Reason::MissingDnskey,
            format!(
                "the parent publishes DS records ({}) but the domain's servers serve no DNSKEY: validating resolvers cannot resolve the domain; publish the keys, or remove the DS at your registrar",
                ds_tags(&ds)
            ),
        )),
        Ok(keys) => {
            let parent_refs: Vec<&DNSKEY> = keys.keys.iter().collect();
            for (answer, message, server_ds) in &parent_ds {
                if server_ds.is_empty() {
                    continue;
                }
                let signed = check_rrset(
                    &message.answers,
                    domain,
                    RecordType::DS,
                    &keys.zone,
                    &parent_refs,
                    now,
                );
                issues.extend(
                    issue(&signed, &format!("the DS RRset at parent server {SERVER}"))
                        .map(|i| i.at(&answer.server)),
                );
            }
            for (answers, message, server_keys) in &child_keys {
                let server = &answers.server;
                if server_keys.is_empty() {
                    issues.push(
                        Issue::new(
                            Reason::MissingDnskey,
                            format!("{SERVER} serves no DNSKEY for the domain"),
                        )
                        .at(server),
                    );
                    continue;
                }
                let entry: Vec<&DNSKEY> = server_keys
                    .iter()
                    .filter(|k| usable_ds.iter().any(|d| ds_matches(d, domain, k)))
                    .collect();
                if entry.is_empty() {
                    issues.push(
                        Issue::new(
                            Reason::DsMismatch,
                            format!(
                                "no DNSKEY at {SERVER} ({}) matches the DS at the parent ({}): publish {} through your registrar, or sign with the key the DS names",
                                key_tags(server_keys),
                                ds_tags(&ds),
                                ds_to_publish(domain, server_keys)
                            ),
                        )
                        .at(server),
                    );
                    continue;
                }
                matched = true;
                let signed = check_rrset(
                    &message.answers,
                    domain,
                    RecordType::DNSKEY,
                    domain,
                    &entry,
                    now,
                );
                issues.extend(
                    issue(&signed, &format!("the DNSKEY RRset at {SERVER}")).map(|i| i.at(server)),
                );
                if let Some(ns) = authoritative(&answers.ns) {
                    let zone_keys: Vec<&DNSKEY> = server_keys.iter().collect();
                    let signed =
                        check_rrset(&ns.answers, domain, RecordType::NS, domain, &zone_keys, now);
                    issues.extend(
                        issue(&signed, &format!("the NS RRset at {SERVER}")).map(|i| i.at(server)),
                    );
                }
            }
        }
    }
    let reason = issues
        .iter()
        .map(|i| i.reason)
        .max_by_key(|r| severity(*r))
        .unwrap_or(Reason::Valid);
    let problem = (!issues.is_empty()).then(|| describe(issues_grouped(&issues)));
    DnssecView {
        ds_at_parent,
        dnskey_at_child,
        matched,
        signature_expires_at: expires
            .and_then(|at| Timestamp::from_second(i64::from(at)).ok())
            .map(Time),
        valid: reason == Reason::Valid,
        problem,
        reason: Some(reason.as_str().to_owned()),
    }
}

/// The findings, most severe first, the same finding at several servers
/// merged into one naming them all (in the order they were asked).
fn issues_grouped(issues: &[Issue]) -> Vec<(Reason, String, Vec<&str>)> {
    let mut groups: Vec<(Reason, String, Vec<&str>)> = Vec::new();
    for issue in issues {
        match groups
            .iter_mut()
            .find(|(reason, message, _)| *reason == issue.reason && *message == issue.message)
        {
            Some((_, _, servers)) => servers.extend(issue.server.as_deref()),
            None => groups.push((
                issue.reason,
                issue.message.clone(),
                issue.server.as_deref().into_iter().collect(),
            )),
        }
    }
    // Stable: equal severities keep the order they were found in.
    groups.sort_by_key(|(reason, _, _)| std::cmp::Reverse(severity(*reason)));
    groups
}

/// The grouped findings as one text, `; ` between them.
fn describe(groups: Vec<(Reason, String, Vec<&str>)>) -> String {
    let mut text = String::new();
    for (n, (_, message, servers)) in groups.into_iter().enumerate() {
        if n > 0 {
            text.push_str("; ");
        }
        let _ = write!(text, "{}", message.replace(SERVER, &servers.join(", ")));
    }
    text
}

/// The order in which findings lead: the chain, then the delegation's
/// keys, then signatures.
fn severity(reason: Reason) -> u8 {
    match reason {
        Reason::Valid => 0,
        Reason::Unsigned => 1,
        Reason::NotDelegatedSecurely => 2,
        Reason::InsecureParent => 3,
        Reason::SignatureNotYetValid => 4,
        Reason::SignatureExpired => 5,
        Reason::SignatureMissing => 6,
        Reason::SignatureInvalid => 7,
        Reason::MissingDnskey => 8,
        Reason::DsMismatch => 9,
        Reason::ChainBroken => 10,
    }
}

// === the I/O ===

/// Asks a domain's parent and own servers, and the resolvers, for the
/// records of its chain of trust. Cheap to share; the sockets are the dns
/// checker's, the TLD keys are cached.
pub struct Prober {
    dns: Arc<DnsChecker>,
    resolver: Arc<StubResolver>,
    anchors: Arc<TrustAnchors>,
    settings: super::delegation::ProbeSettings,
    tlds: Mutex<HashMap<String, (Instant, TrustedKeys)>>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("anchors", &self.anchors.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober asking through `dns` (its parent servers, sockets and
    /// budgets) and `resolver` (the root's keys and the TLD's DS),
    /// validating from `anchors`.
    pub fn new(
        dns: Arc<DnsChecker>,
        resolver: Arc<StubResolver>,
        anchors: Arc<TrustAnchors>,
        settings: super::delegation::ProbeSettings,
    ) -> Self {
        Self {
            dns,
            resolver,
            anchors,
            settings,
            tlds: Mutex::new(HashMap::new()),
        }
    }

    /// The DNSSEC view of `domain`, whose own servers are `child` (from the
    /// delegation probe: names and addresses), at the current time.
    ///
    /// # Errors
    /// [`Error`] when the parent's servers, or the keys of the chain
    /// above the domain, cannot be fetched, or no server answered at all.
    /// A chain that is fetched but does not validate is a view
    /// (`ChainBroken`), not an error.
    pub async fn probe(
        &self,
        domain: &DomainName,
        child: &[ChildServer],
    ) -> Result<DnssecView, Error> {
        let name = fqdn(domain.as_str())?;
        let servers = tokio::time::timeout(
            self.settings.timeout,
            self.dns.authoritative_servers(domain),
        )
        .await
        .map_err(|_| Error::ChainUnavailable {
            zone: domain.tld().to_owned(),
            reason: "finding the TLD's servers timed out".to_owned(),
        })?
        .map_err(|source| super::delegation::Error::ParentServers {
            domain: domain.as_str().to_owned(),
            source,
        })?;
        let tld_keys = self.tld_keys(domain.tld(), &servers).await?;

        let deadline = Instant::now() + self.settings.timeout;
        let parent = join_all(servers.iter().map(|server| {
            let name = &name;
            async move {
                let message = self
                    .dns
                    .ask_dnssec(*server, name, RecordType::DS, deadline)
                    .await
                    .map_err(|e| e.to_string());
                Answer {
                    server: server.to_string(),
                    message,
                }
            }
        }))
        .await;

        let mut addresses: Vec<(String, IpAddr)> = Vec::new();
        for server in child {
            let ips: Vec<IpAddr> = server
                .addresses
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            for ip in &ips {
                let label = if ips.len() == 1 {
                    server.name.clone()
                } else {
                    format!("{} at {ip}", server.name)
                };
                addresses.push((label, *ip));
            }
        }
        let port = self.settings.nameserver_port;
        let children = join_all(addresses.into_iter().map(|(label, ip)| {
            let name = &name;
            async move {
                let at = SocketAddr::new(ip, port);
                let (dnskey, ns) = tokio::join!(
                    self.dns.ask_dnssec(at, name, RecordType::DNSKEY, deadline),
                    self.dns.ask_dnssec(at, name, RecordType::NS, deadline),
                );
                ChildAnswers {
                    server: label,
                    dnskey: dnskey.map_err(|e| e.to_string()),
                    ns: ns.map_err(|e| e.to_string()),
                }
            }
        }))
        .await;
        if parent.iter().all(|a| a.message.is_err()) && children.iter().all(|c| c.dnskey.is_err()) {
            return Err(Error::NoAnswers {
                domain: domain.as_str().to_owned(),
            });
        }
        Ok(assess(&name, &tld_keys, &parent, &children, unix_now()))
    }

    /// The TLD's validated keys (cached), or why the chain breaks above it.
    async fn tld_keys(
        &self,
        tld: &str,
        servers: &[SocketAddr],
    ) -> Result<Result<TrustedKeys, Untrusted>, Error> {
        let now = Instant::now();
        if let Some((_, keys)) = self
            .tlds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tld)
            .filter(|(until, _)| *until > now)
        {
            return Ok(Ok(keys.clone()));
        }
        let zone = fqdn(tld)?;
        let unavailable = |reason: String| Error::ChainUnavailable {
            zone: zone.to_string(),
            reason,
        };
        let deadline = Instant::now() + self.settings.timeout;
        let mut failures = Vec::new();
        let mut tld_dnskey = None;
        for server in servers {
            match self
                .dns
                .ask_dnssec(*server, &zone, RecordType::DNSKEY, deadline)
                .await
            {
                Ok(m) if m.metadata.response_code == ResponseCode::NoError => {
                    tld_dnskey = Some(m);
                    break;
                }
                Ok(m) => failures.push(format!("{server}: {}", m.metadata.response_code)),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        let tld_dnskey = tld_dnskey.ok_or_else(|| unavailable(failures.join("; ")))?;
        let above = if anchored_at(&self.anchors, &zone, &tld_dnskey) {
            None
        } else {
            let root = Name::root();
            // One round, like the others: the resolvers' own timeout is
            // the HTTP probe's.
            let (root_dnskey, tld_ds) = tokio::time::timeout(self.settings.timeout, async {
                tokio::join!(
                    self.resolver.ask_dnssec(&root, RecordType::DNSKEY),
                    self.resolver.ask_dnssec(&zone, RecordType::DS),
                )
            })
            .await
            .map_err(|_| unavailable("the resolvers did not answer in time".to_owned()))?;
            Some((
                root_dnskey.map_err(unavailable)?,
                tld_ds.map_err(unavailable)?,
            ))
        };
        let unix = unix_now();
        let keys = chain(
            &self.anchors,
            &zone,
            &tld_dnskey,
            above.as_ref().map(|(root, ds)| (root, ds)),
            unix,
        );
        if let Ok(keys) = &keys {
            let left = Duration::from_secs(u64::from(keys.expires.wrapping_sub(unix)));
            let keep = left.min(TLD_KEYS_MAX);
            self.tlds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(tld.to_owned(), (now + keep, keys.clone()));
        }
        Ok(keys)
    }
}

/// The current time as an RRSIG serial time (Unix seconds mod 2³²).
fn unix_now() -> u32 {
    // Truncation is the point: RRSIG times are serial numbers (RFC 4034 §3.1.5).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let now = Timestamp::now().as_second() as u32;
    now
}

#[cfg(test)]
mod tests;
