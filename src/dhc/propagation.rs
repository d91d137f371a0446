//! Propagation, purely: the SOA serials seen in one probe round folded into
//! `status.propagation`, and the `Converged` condition.
//!
//! - The **published serial** is the highest one an authoritative server
//!   serves (a server that did not answer is left out).
//! - A **serial change** is the published serial differing from the one
//!   the status showed. The round that sees it is `detectedAt`; each
//!   resolver's `convergedAt` is the first round in which it serves that
//!   serial, and `seconds` the difference: the convergence time, measured
//!   at the resolution of the check's interval. The first round of a check
//!   is its baseline, never a change.
//! - **`Converged`**: `True` when every authoritative server and every
//!   resolver serve the published serial; `False` with `SerialMismatch`
//!   when the authoritative servers disagree, else `Propagating` when a
//!   resolver serves another serial (both messages name them: a server by
//!   its host name, with the address asked, `[2001:db8::53]:53`, when the
//!   host has several, IPv4 and IPv6); `Unknown`
//!   (`NoSerial`) while no authoritative server gave a serial.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::resource::dhc::{
    Convergence, PropagationStatus, ResolverSerial, SerialChange, ServerSerial,
};

/// Condition type: the resolvers serve the serial the servers publish.
pub const CONVERGED: &str = "Converged";

/// The serials seen in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    /// Each authoritative server's serial.
    pub authoritative: Vec<ServerSerial>,
    /// Each resolver's serial.
    pub resolvers: Vec<ResolverSerial>,
}

/// A resolver that just served a changed serial, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    /// The resolver's name.
    pub name: String,
    /// Seconds since the change was detected.
    pub seconds: u64,
}

/// The new `status.propagation` after `round`, given the `previous` one,
/// and the resolvers that converged in this round.
pub fn fold(
    previous: Option<&PropagationStatus>,
    round: Round,
    now: Timestamp,
) -> (PropagationStatus, Vec<Converged>) {
    let serial = round.authoritative.iter().filter_map(|s| s.serial).max();
    let serves = |name: &str| {
        round
            .resolvers
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.serial)
    };
    let mut converged = Vec::new();
    let previous_serial = previous.and_then(|p| p.serial);
    let last_change = match (previous_serial, serial) {
        (Some(before), Some(after)) if before != after => Some(SerialChange {
            serial: after,
            detected_at: Time(now),
            resolvers: round
                .resolvers
                .iter()
                .map(|r| {
                    let done = r.serial == Some(after);
                    if done {
                        converged.push(Converged {
                            name: r.name.clone(),
                            seconds: 0,
                        });
                    }
                    Convergence {
                        name: r.name.clone(),
                        converged_at: done.then_some(Time(now)),
                        seconds: done.then_some(0),
                    }
                })
                .collect(),
        }),
        _ => previous
            .and_then(|p| p.last_change.clone())
            .map(|mut change| {
                for resolver in &mut change.resolvers {
                    if resolver.converged_at.is_none()
                        && serves(&resolver.name) == Some(change.serial)
                    {
                        let seconds = u64::try_from(
                            now.duration_since(change.detected_at.0).as_secs().max(0),
                        )
                        .unwrap_or(0);
                        resolver.converged_at = Some(Time(now));
                        resolver.seconds = Some(seconds);
                        converged.push(Converged {
                            name: resolver.name.clone(),
                            seconds,
                        });
                    }
                }
                change
            }),
    };
    (
        PropagationStatus {
            serial,
            authoritative: round.authoritative,
            resolvers: round.resolvers,
            last_change,
        },
        converged,
    )
}

/// The `Converged` condition of `status`.
pub fn condition(
    old: &[Condition],
    status: &PropagationStatus,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let text = |serial: Option<u32>| serial.map_or("nothing".to_owned(), |s| s.to_string());
    let (state, reason, message) = match status.serial {
        None if status.authoritative.is_empty() => (
            "Unknown",
            "NoSerial",
            "No resolver answered the domain's NS set (with the servers' addresses), \
             so no authoritative server was asked for the SOA serial."
                .to_owned(),
        ),
        None => (
            "Unknown",
            "NoSerial",
            format!(
                "None of the {} authoritative server addresses of the NS set gave the zone's \
                 SOA serial (is the domain a zone apex?).",
                status.authoritative.len()
            ),
        ),
        Some(serial) => {
            let servers: Vec<String> = status
                .authoritative
                .iter()
                .filter(|s| s.serial.is_some_and(|x| x != serial))
                .map(|s| format!("{} serves {}", server_label(status, s), text(s.serial)))
                .collect();
            let resolvers: Vec<String> = status
                .resolvers
                .iter()
                .filter(|r| r.serial != Some(serial))
                .map(|r| format!("{} serves {}", r.name, text(r.serial)))
                .collect();
            if !servers.is_empty() {
                (
                    "False",
                    "SerialMismatch",
                    format!(
                        "The authoritative servers disagree: the highest serial is {serial}; {}.",
                        servers.join("; ")
                    ),
                )
            } else if !resolvers.is_empty() {
                (
                    "False",
                    "Propagating",
                    format!(
                        "The authoritative servers serve serial {serial}; {}.",
                        resolvers.join("; ")
                    ),
                )
            } else {
                (
                    "True",
                    "Converged",
                    format!("Every authoritative server and resolver serves serial {serial}."),
                )
            }
        }
    };
    let last_transition_time = match old.iter().find(|c| c.type_ == CONVERGED) {
        Some(previous) if previous.status == state => previous.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: CONVERGED.to_owned(),
        status: state.to_owned(),
        reason: reason.to_owned(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// How a message names an authoritative server: its host name, with the
/// address asked (`ns1.example.com at [2001:db8::53]:53`) when the host has
/// several addresses (IPv4 and IPv6), so that the one lagging copy shows.
fn server_label(status: &PropagationStatus, server: &ServerSerial) -> String {
    let addresses = status
        .authoritative
        .iter()
        .filter(|s| s.server == server.server)
        .count();
    if addresses > 1 {
        format!("{} at {}", server.server, server.address)
    } else {
        server.server.clone()
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    fn round(servers: &[Option<u32>], resolvers: &[(&str, Option<u32>)]) -> Round {
        Round {
            authoritative: servers
                .iter()
                .enumerate()
                .map(|(i, serial)| ServerSerial {
                    server: format!("ns{}.example.com", i + 1),
                    address: format!("192.0.2.{}:53", i + 1),
                    serial: *serial,
                })
                .collect(),
            resolvers: resolvers
                .iter()
                .map(|(name, serial)| ResolverSerial {
                    name: (*name).to_owned(),
                    serial: *serial,
                })
                .collect(),
        }
    }

    #[test]
    fn a_serial_change_is_timed_per_resolver_until_each_serves_it() {
        let t0 = Timestamp::now();
        let (base, done) = fold(
            None,
            round(&[Some(1), Some(1)], &[("a", Some(1)), ("b", Some(1))]),
            t0,
        );
        assert_eq!(base.serial, Some(1));
        assert_eq!(base.last_change, None, "the first round is the baseline");
        assert!(done.is_empty());
        assert_eq!(condition(&[], &base, None, t0).reason, "Converged");

        let t1 = t0 + SignedDuration::from_secs(10);
        let (changing, done) = fold(
            Some(&base),
            round(&[Some(2), Some(1)], &[("a", Some(2)), ("b", Some(1))]),
            t1,
        );
        let change = changing.last_change.clone().unwrap();
        assert_eq!(change.serial, 2);
        assert_eq!(change.detected_at, Time(t1));
        assert_eq!(
            done,
            [Converged {
                name: "a".to_owned(),
                seconds: 0
            }]
        );
        let mismatch = condition(&[], &changing, None, t1);
        assert_eq!(mismatch.reason, "SerialMismatch");
        assert!(
            mismatch.message.contains("ns2.example.com serves 1"),
            "{}",
            mismatch.message
        );

        let t2 = t1 + SignedDuration::from_secs(10);
        let (propagating, done) = fold(
            Some(&changing),
            round(&[Some(2), Some(2)], &[("a", Some(2)), ("b", Some(1))]),
            t2,
        );
        assert!(done.is_empty());
        let waiting = condition(&[], &propagating, None, t2);
        assert_eq!(
            (waiting.status.as_str(), waiting.reason.as_str()),
            ("False", "Propagating")
        );
        assert!(
            waiting.message.contains("b serves 1"),
            "{}",
            waiting.message
        );

        let t3 = t2 + SignedDuration::from_secs(10);
        let (converged, done) = fold(
            Some(&propagating),
            round(&[Some(2), Some(2)], &[("a", Some(2)), ("b", Some(2))]),
            t3,
        );
        assert_eq!(
            done,
            [Converged {
                name: "b".to_owned(),
                seconds: 20
            }]
        );
        let b = &converged.last_change.as_ref().unwrap().resolvers[1];
        assert_eq!(
            (b.converged_at.clone(), b.seconds),
            (Some(Time(t3)), Some(20))
        );
        assert_eq!(condition(&[], &converged, None, t3).status, "True");

        // Nothing new: the same status, so nothing to write.
        let (again, done) = fold(
            Some(&converged),
            round(&[Some(2), Some(2)], &[("a", Some(2)), ("b", Some(2))]),
            t3 + SignedDuration::from_secs(10),
        );
        assert_eq!(again, converged);
        assert!(done.is_empty());
    }

    #[test]
    fn a_lagging_ipv6_address_of_a_dual_stack_server_is_named_by_its_address() {
        let server = |name: &str, address: &str, serial: u32| ServerSerial {
            server: name.to_owned(),
            address: address.to_owned(),
            serial: Some(serial),
        };
        let round = Round {
            authoritative: vec![
                server("ns1.example.com", "192.0.2.1:53", 2),
                server("ns1.example.com", "[2001:db8::1]:53", 1),
                server("ns2.example.com", "[2001:db8::2]:53", 1),
            ],
            resolvers: Vec::new(),
        };
        let now = Timestamp::now();
        let (status, _) = fold(None, round, now);
        let mismatch = condition(&[], &status, None, now);
        assert_eq!(mismatch.reason, "SerialMismatch");
        assert_eq!(
            mismatch.message,
            "The authoritative servers disagree: the highest serial is 2; \
             ns1.example.com at [2001:db8::1]:53 serves 1; ns2.example.com serves 1."
        );
    }

    #[test]
    fn no_serial_is_unknown_and_names_the_step_that_failed() {
        let (status, _) = fold(None, round(&[None], &[("a", None)]), Timestamp::now());
        let silent = condition(&[], &status, None, Timestamp::now());
        assert_eq!(silent.reason, "NoSerial");
        assert!(silent.message.contains("zone apex"), "{}", silent.message);
        // No resolver gave the NS set: no server was asked, and the
        // message says so instead of doubting the apex.
        let (status, _) = fold(None, round(&[], &[("a", None)]), Timestamp::now());
        let no_ns = condition(&[], &status, None, Timestamp::now());
        assert_eq!(no_ns.reason, "NoSerial");
        assert!(
            no_ns
                .message
                .starts_with("No resolver answered the domain's NS set"),
            "{}",
            no_ns.message
        );
        assert!(!no_ns.message.contains("apex"), "{}", no_ns.message);
    }
}
