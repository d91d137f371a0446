//! The canary TXT record (`spec.canary`): publish → resolvable, end to end.
//!
//! Whoever publishes the zone (a person, a CI job, external-dns driven by a
//! CronJob) rewrites one TXT record with the time of publication,
//! `t=<Unix seconds>` ([`publish_time`]). Each probe round the operator reads
//! it at the zone's authoritative servers and at each resolver ([`ask`]),
//! and [`fold`] turns what it read into `status.canary`:
//!
//! - **Published**: the newest publish time an authoritative server serves;
//!   `authoritativeAt` is the round that first saw it there.
//! - **Resolvable**: when a resolver first serves a publish time newer than
//!   the one it served before, that round is its `resolvableAt`, and two
//!   delays are measured: `delaySeconds` from the publish time itself
//!   (publish → resolvable, the user's view, including the time the
//!   publisher took to reach the authoritative servers) and
//!   `sinceAuthoritativeSeconds` from `authoritativeAt` (the resolvers'
//!   share alone).
//! - **Baselines**: a value nobody saw arrive is not timed: at the check's
//!   first round (or a new canary name), and when a resolver that served
//!   nothing so far (new in the spec, or not answering until now) serves a
//!   value other than one the servers were seen to publish after the
//!   first round.
//! - Publish times only move forward: no answer, no valid value, or an
//!   older value keeps what the status showed, so a flapping resolver
//!   writes nothing and is not timed twice.
//!
//! [`fold`] is pure; [`ask`] is the I/O; [`record`] feeds
//! `domain_monitor.dhc.canary.delay`.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use futures::future::join_all;
use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RecordType},
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

use super::{NamedResolver, probe::presentation};
use crate::resource::dhc::{CanaryResolver, CanaryStatus};
use crate::{
    check::dns::engine::Upstream,
    metrics::{
        Metrics,
        dhc::{CanaryLabels, CanarySince, SeriesBudget, intern},
    },
};

/// The publish time in one canary TXT record's data (its strings joined):
/// the value of its `t=` field, Unix seconds, as in `t=1764600000`. Fields
/// are separated by white space or `;`, so `t=1764600000 by=external-dns`
/// and `v=1;t=1764600000` are read too. `None` without a `t=` field of
/// 1 to 12 digits.
pub fn publish_time(data: &str) -> Option<Timestamp> {
    data.split(|c: char| c.is_whitespace() || c == ';')
        .find_map(|field| field.strip_prefix("t="))
        .filter(|digits| (1..=12).contains(&digits.len()))
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<i64>().ok())
        .and_then(|seconds| Timestamp::from_second(seconds).ok())
}

/// The newest publish time of the TXT records of one answer.
pub fn newest(records: &[String]) -> Option<Timestamp> {
    records.iter().filter_map(|r| publish_time(r)).max()
}

/// The publish times read in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    /// The newest one any authoritative server serves.
    pub authoritative: Option<Timestamp>,
    /// Each resolver's name and the newest one it serves.
    pub resolvers: Vec<(String, Option<Timestamp>)>,
}

/// A resolver that just served a newer canary value, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    /// The resolver's name.
    pub resolver: String,
    /// Since the publish time (`delaySeconds`).
    pub since_publish: Duration,
    /// Since the authoritative servers first served it
    /// (`sinceAuthoritativeSeconds`), when that round was seen.
    pub since_authoritative: Option<Duration>,
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_secs(u64::try_from(to.duration_since(from).as_secs()).unwrap_or(0))
}

/// The new `status.canary` of the canary `name` after `round`, given the
/// `previous` one, and the resolvers that served a newer value in it.
pub fn fold(
    previous: Option<&CanaryStatus>,
    name: &str,
    round: Round,
    now: Timestamp,
) -> (CanaryStatus, Vec<Delay>) {
    let previous = previous.filter(|p| p.name == name);
    let shown = previous.and_then(|p| p.published_at.as_ref().map(|t| t.0));
    let (published_at, authoritative_at) = match round.authoritative {
        Some(read) if shown.is_none_or(|before| read > before) => {
            (Some(read), previous.is_some().then_some(now))
        }
        _ => (
            shown,
            previous.and_then(|p| p.authoritative_at.as_ref().map(|t| t.0)),
        ),
    };
    let mut delays = Vec::new();
    let resolvers = round
        .resolvers
        .into_iter()
        .map(|(resolver, read)| {
            let before = previous.and_then(|p| p.resolvers.iter().find(|r| r.name == resolver));
            let served = before.and_then(|b| b.published_at.as_ref().map(|t| t.0));
            match read {
                Some(read) if served.is_none_or(|s| read > s) => {
                    let timed = served.is_some()
                        || (authoritative_at.is_some() && published_at == Some(read));
                    if !timed {
                        return CanaryResolver {
                            name: resolver,
                            published_at: Some(Time(read)),
                            resolvable_at: None,
                            delay_seconds: None,
                            since_authoritative_seconds: None,
                        };
                    }
                    let since_publish = elapsed(read, now);
                    let since_authoritative = authoritative_at
                        .filter(|_| published_at == Some(read))
                        .map(|at| elapsed(at, now));
                    delays.push(Delay {
                        resolver: resolver.clone(),
                        since_publish,
                        since_authoritative,
                    });
                    CanaryResolver {
                        name: resolver,
                        published_at: Some(Time(read)),
                        resolvable_at: Some(Time(now)),
                        delay_seconds: Some(since_publish.as_secs()),
                        since_authoritative_seconds: since_authoritative.map(|d| d.as_secs()),
                    }
                }
                _ => before.cloned().unwrap_or(CanaryResolver {
                    name: resolver,
                    published_at: None,
                    resolvable_at: None,
                    delay_seconds: None,
                    since_authoritative_seconds: None,
                }),
            }
        })
        .collect();
    (
        CanaryStatus {
            name: name.to_owned(),
            published_at: published_at.map(Time),
            authoritative_at: authoritative_at.map(Time),
            resolvers,
        },
        delays,
    )
}

/// The canary's fully qualified name (without the final dot) for the
/// spec's relative `name` in `domain`.
pub fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" {
        domain.to_owned()
    } else {
        format!("{}.{domain}", name.to_ascii_lowercase())
    }
}

/// One round of reading the canary `fqdn`: its TXT records at each
/// authoritative server (the engines the propagation round keeps, RD=0) and
/// at each resolver, each within `timeout`.
pub(super) async fn ask(
    fqdn: &str,
    authoritative: &HashMap<SocketAddr, Upstream>,
    resolvers: &[(NamedResolver, Arc<Upstream>)],
    timeout: Duration,
) -> Round {
    let Ok(qname) = Name::from_ascii(format!("{fqdn}.")) else {
        return Round::default();
    };
    let qname = &qname;
    let read = |answer: Option<Message>| {
        let message = answer.filter(|m| m.metadata.response_code == ResponseCode::NoError)?;
        let records: Vec<String> = message
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::TXT)
            .map(|r| presentation(&r.data))
            .collect();
        newest(&records)
    };
    let at_servers = join_all(authoritative.values().map(|server| async move {
        read(
            server
                .query(qname, RecordType::TXT, Instant::now() + timeout)
                .await
                .ok(),
        )
    }));
    let at_resolvers = join_all(resolvers.iter().map(|(named, resolver)| async move {
        let answer = resolver
            .query(qname, RecordType::TXT, Instant::now() + timeout)
            .await
            .ok();
        (named.name.clone(), read(answer))
    }));
    let (at_servers, resolvers) = tokio::join!(at_servers, at_resolvers);
    Round {
        authoritative: at_servers.into_iter().flatten().max(),
        resolvers,
    }
}

/// Records `delays` in `domain_monitor.dhc.canary.delay` for the check
/// `(namespace, name)`, within its series `budget`.
pub(super) fn record(
    metrics: &Metrics,
    budget: &mut SeriesBudget,
    (namespace, name): (&'static str, &'static str),
    delays: &[Delay],
) {
    for delay in delays {
        let labels = |since| CanaryLabels {
            namespace,
            name,
            resolver: intern(&delay.resolver),
            since,
        };
        let labels_since_publish = budget.admit_canary(labels(CanarySince::Publish));
        metrics
            .canary_delay
            .record(labels_since_publish, delay.since_publish);
        if let Some(took) = delay.since_authoritative {
            let labels_since_servers = budget.admit_canary(labels(CanarySince::Authoritative));
            metrics.canary_delay.record(labels_since_servers, took);
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn round(authoritative: Option<i64>, resolvers: &[(&str, Option<i64>)]) -> Round {
        Round {
            authoritative: authoritative.map(at),
            resolvers: resolvers
                .iter()
                .map(|(name, t)| ((*name).to_owned(), t.map(at)))
                .collect(),
        }
    }

    #[test]
    fn the_publish_time_is_the_t_field_in_unix_seconds() {
        assert_eq!(publish_time("t=1764600000"), Some(at(1_764_600_000)));
        assert_eq!(
            publish_time("t=1764600000 by=external-dns"),
            Some(at(1_764_600_000))
        );
        assert_eq!(publish_time("v=1;t=1764600000"), Some(at(1_764_600_000)));
        for bad in [
            "",
            "1764600000",
            "t=",
            "t=17646e5",
            "t=-5",
            "T=1764600000",
            "at=1764600000",
            "t=1764600000000",
        ] {
            assert_eq!(publish_time(bad), None, "{bad:?}");
        }
        assert_eq!(
            newest(&["t=5".to_owned(), "t=9".to_owned(), "junk".to_owned()]),
            Some(at(9))
        );
    }

    #[test]
    fn a_new_value_is_timed_per_resolver_from_publish_and_from_the_servers() {
        let name = "_canary.example.com";
        let t0 = at(1_000);
        // The first round is a baseline: no delay anywhere.
        let (base, delays) = fold(
            None,
            name,
            round(Some(900), &[("a", Some(900)), ("b", None)]),
            t0,
        );
        assert!(delays.is_empty());
        assert_eq!(base.published_at, Some(Time(at(900))));
        assert_eq!(base.authoritative_at, None);
        assert_eq!(base.resolvers[0].resolvable_at, None);
        assert_eq!(base.resolvers[1].published_at, None);

        // Published at 1005, on the servers at the round of 1010; a serves
        // it at once, b not yet.
        let t1 = t0 + SignedDuration::from_secs(10);
        let (published, delays) = fold(
            Some(&base),
            name,
            round(Some(1_005), &[("a", Some(1_005)), ("b", None)]),
            t1,
        );
        assert_eq!(published.authoritative_at, Some(Time(t1)));
        assert_eq!(
            delays,
            [Delay {
                resolver: "a".to_owned(),
                since_publish: Duration::from_secs(5),
                since_authoritative: Some(Duration::ZERO),
            }]
        );
        let a = &published.resolvers[0];
        assert_eq!(
            (a.delay_seconds, a.since_authoritative_seconds),
            (Some(5), Some(0))
        );

        // b serves it two rounds later; a flaps (no answer) and keeps it.
        let t3 = t1 + SignedDuration::from_secs(20);
        let (resolved, delays) = fold(
            Some(&published),
            name,
            round(None, &[("a", None), ("b", Some(1_005))]),
            t3,
        );
        assert_eq!(
            delays,
            [Delay {
                resolver: "b".to_owned(),
                since_publish: Duration::from_secs(25),
                since_authoritative: Some(Duration::from_secs(20)),
            }]
        );
        assert_eq!(resolved.resolvers[0], published.resolvers[0]);
        assert_eq!(resolved.published_at, Some(Time(at(1_005))));
        assert_eq!(resolved.resolvers[1].resolvable_at, Some(Time(t3)));

        // Nothing newer: the same status (nothing to write), no delay; an
        // older value does not go back.
        let (again, delays) = fold(
            Some(&resolved),
            name,
            round(Some(1_005), &[("a", Some(900)), ("b", Some(1_005))]),
            t3 + SignedDuration::from_secs(10),
        );
        assert!(delays.is_empty());
        assert_eq!(again, resolved);
    }

    #[test]
    fn new_resolvers_and_renamed_canaries_start_from_a_baseline() {
        let (base, _) = fold(
            None,
            "_canary.example.com",
            round(Some(900), &[("a", Some(900))]),
            at(1_000),
        );
        let (added, delays) = fold(
            Some(&base),
            "_canary.example.com",
            round(Some(900), &[("a", Some(900)), ("new", Some(900))]),
            at(1_010),
        );
        assert!(delays.is_empty(), "{delays:?}");
        assert_eq!(added.resolvers[1].published_at, Some(Time(at(900))));
        // A resolver silent at the first round then serving the old value:
        // not timed either.
        let (silent, _) = fold(
            None,
            "_canary.example.com",
            round(Some(900), &[("a", None)]),
            at(1_000),
        );
        let (late, delays) = fold(
            Some(&silent),
            "_canary.example.com",
            round(Some(900), &[("a", Some(900))]),
            at(1_010),
        );
        assert!(delays.is_empty(), "{delays:?}");
        assert_eq!(late.resolvers[0].resolvable_at, None);
        // A canary created after the first round is timed at once.
        let (created, delays) = fold(
            Some(
                &fold(
                    None,
                    "_canary.example.com",
                    round(None, &[("a", None)]),
                    at(1_000),
                )
                .0,
            ),
            "_canary.example.com",
            round(Some(1_005), &[("a", Some(1_005))]),
            at(1_010),
        );
        assert_eq!(delays.len(), 1, "{created:?}");
        assert_eq!(created.resolvers[0].delay_seconds, Some(5));
        let (renamed, delays) = fold(
            Some(&added),
            "_probe.example.com",
            round(Some(950), &[("a", Some(950))]),
            at(1_020),
        );
        assert!(delays.is_empty(), "{delays:?}");
        assert_eq!(renamed.authoritative_at, None);
        // A publisher clock ahead of the operator's gives 0, not a panic.
        let (ahead, delays) = fold(
            Some(&renamed),
            "_probe.example.com",
            round(Some(2_000), &[("a", Some(2_000))]),
            at(1_030),
        );
        assert_eq!(delays[0].since_publish, Duration::ZERO);
        assert_eq!(ahead.resolvers[0].delay_seconds, Some(0));
    }

    #[test]
    fn canary_names_are_relative_to_the_domain() {
        assert_eq!(fqdn("example.com", "_Canary"), "_canary.example.com");
        assert_eq!(fqdn("example.com", "@"), "example.com");
    }
}
