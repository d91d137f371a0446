//! Domain health: the state of the domains users own (registration,
//! registry lock, expiry, delegation, DNSSEC), for
//! those that opt in with `spec.health`.
//!
//! The types of `status.health` live with the resource
//! ([`crate::resource::health`]); this module holds the pure
//! [`evaluate`], which turns what the checks found ([`HealthFacts`]), the
//! spec and what the status showed before ([`HealthState`]) into the new
//! `status.health`, its conditions and the change events. The controller
//! writes the result only when it differs from what the status shows, and
//! publishes each event once that write succeeded.
//!
//! Decisions:
//! - **Registry lock** = the three `server*Prohibited` statuses
//!   ([`REGISTRY_LOCK_STATUSES`]) set by the registry; only the registry can
//!   lift them, on a request authenticated out of band. The
//!   `client*Prohibited` statuses are the registrar's lock, which anyone
//!   holding the registrar account can lift: they are reported apart
//!   ([`LockView::client`]) and never count as a registry lock.
//! - **Conditions**, in the cert-manager style (type, status, reason in
//!   CamelCase, a message that says what to do): `Healthy`,
//!   `RegistryLocked`, `ExpiringSoon`, `DelegationDrift` and `DNSSECValid`.
//!   A check without data yet (the registry not asked yet, no expiry
//!   published, the delegation not probed) gives its condition `Unknown`
//!   with a reason saying why. A check switched off gives no condition:
//!   `DNSSECValid` is absent with `dnssec: Ignore`. `RegistryLocked` is a
//!   fact and is reported with `registryLock: Ignore` too; then it does not
//!   affect `Healthy`.
//! - **Healthy** is `False` when any check that is on fails (the message
//!   names each failing condition in a few words; the conditions say what
//!   to do). Otherwise it is `Unknown` while a check the spec asks for has
//!   no data: the registration (`NoRegistrationData`), or (`Pending`) the
//!   expiry, the lock with `registryLock: Required`, the delegation with
//!   `expectedNameservers`, DNSSEC with `dnssec: Required|Optional`; the
//!   message names them. Else `True`; checks without data that the spec
//!   does not ask for are named in its message.
//! - **Mode** ([`Mode`]): the operator words a check without data as "not
//!   known yet" (a later check fills it in), or, when the registry was
//!   asked and gave no data, says what it answered
//!   ([`HealthFacts::registry_answer`]) and that it is asked again; a
//!   one-off run (`check --health`) says what the run found instead.
//! - **Change events** compare the registry's facts with the last ones the
//!   status showed: the registrar, the EPP statuses (added, removed), the
//!   expiry moving later (a renewal) or earlier (`ExpiryShortened`, a
//!   warning: a renewal undone, or a correction) and the name servers at
//!   the registry.
//!   The first facts of a domain are its baseline, never a change. A check
//!   that did not reach the registry keeps the last facts. Besides, the
//!   registry lock going (`LockLost`) and `ExpiringSoon` turning true are
//!   events, and so is `DNSSECValid` turning to a reason that makes the
//!   domain unhealthy (the Event's reason is the condition's). One rule for
//!   all: a change from a known state is announced; each condition's first
//!   known state (first check, or first data) is its baseline, shown by
//!   the conditions and metrics, not announced.
//! - **Nothing volatile** is in `status.health` or its conditions: dates,
//!   not "in 12 days", so that a status is written only when something
//!   changed.

pub mod delegation;
pub mod dnssec;

use std::{collections::BTreeSet, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, RegistrationFacts},
    resource::{
        Availability, DnssecPolicy, HealthSpec, RegistryLockPolicy,
        health::{ChildView, DelegationView, DnssecView, HealthStatus, LockView, RegistrationView},
    },
};

/// `ExpiringSoon` turns true this long before expiry unless
/// `spec.health.expiryWarning` says otherwise.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// Condition type: every check that is on passes.
pub const HEALTHY: &str = "Healthy";
/// Condition type: the registry lock is set.
pub const REGISTRY_LOCKED: &str = "RegistryLocked";
/// Condition type: the registration expires within the warning period.
pub const EXPIRING_SOON: &str = "ExpiringSoon";
/// Condition type: the name-server views differ.
pub const DELEGATION_DRIFT: &str = "DelegationDrift";
/// Condition type: DNSSEC validates.
pub const DNSSEC_VALID: &str = "DNSSECValid";
/// The health condition types, in the order the status lists them.
pub const CONDITION_TYPES: [&str; 5] = [
    HEALTHY,
    REGISTRY_LOCKED,
    EXPIRING_SOON,
    DELEGATION_DRIFT,
    DNSSEC_VALID,
];

/// The statuses of a registry lock (set by the registry, lifted only by it).
pub const REGISTRY_LOCK_STATUSES: [&str; 3] = [
    "serverDeleteProhibited",
    "serverTransferProhibited",
    "serverUpdateProhibited",
];
/// The statuses of a registrar lock (reported apart: the registrar account
/// can lift them).
pub const REGISTRAR_LOCK_STATUSES: [&str; 3] = [
    "clientDeleteProhibited",
    "clientTransferProhibited",
    "clientUpdateProhibited",
];
/// Statuses that take a domain out of the DNS.
const HOLD_STATUSES: [&str; 2] = ["clientHold", "serverHold"];
/// Statuses of a domain on its way to deletion.
const DELETION_STATUSES: [&str; 3] = ["redemptionPeriod", "pendingRestore", "pendingDelete"];

/// What the status shows of health mode: `status.health` and the health
/// conditions. The controller keeps it (boxed) for health-enabled domains
/// only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthState {
    /// `status.health`.
    pub status: HealthStatus,
    /// The health conditions, in [`CONDITION_TYPES`] order.
    pub conditions: Vec<Condition>,
}

impl HealthState {
    /// The health part of a status, if it has one.
    pub fn of(status: Option<&HealthStatus>, conditions: &[Condition]) -> Option<Self> {
        status.map(|status| Self {
            status: status.clone(),
            conditions: conditions
                .iter()
                .filter(|c| is_health_condition(&c.type_))
                .cloned()
                .collect(),
        })
    }

    /// The condition of type `type_`.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The registration's expiry, Unix seconds.
    pub fn expires_at(&self) -> Option<i64> {
        self.status
            .registration
            .as_ref()
            .and_then(|r| r.expires_at.as_ref())
            .map(|t| t.0.as_second())
    }
}

/// Whether `type_` is one of the health conditions.
pub fn is_health_condition(type_: &str) -> bool {
    CONDITION_TYPES.contains(&type_)
}

// === facts, report, events ===

/// What one check found for health mode.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthFacts {
    /// What the registry (RDAP, else WHOIS) said about the registration;
    /// `None` when it was not asked or did not answer.
    pub registry: Option<RegistrationFacts>,
    /// The delegation views (drift and lame servers filled in by their
    /// producer); `None` when not probed.
    pub delegation: Option<DelegationView>,
    /// DNSSEC; `None` when not checked.
    pub dnssec: Option<DnssecView>,
    /// The availability the status shows after the check: a domain the
    /// registry no longer has (`Available`, `Unconfirmed`) is not healthy,
    /// whatever its last registration said.
    pub availability: Option<Availability>,
    /// What the registry answered when it was asked but gave no
    /// registration data (its errors, "not found"), as
    /// [`registry_finding`] words it; `None` when it was not asked.
    pub registry_answer: Option<String>,
    /// Who reads the report: it words the checks without data.
    pub mode: Mode,
}

/// Who reads a health report, which decides how a check without data is
/// worded: the operator checks again, a one-off run does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The operator: a later check fills in what this one lacks, so a
    /// check without data is "not known yet".
    #[default]
    Operator,
    /// A one-off run (`domain-monitor check --health`): there is no later
    /// check, so a check without data says what this run found instead.
    OneOff(RunFindings),
}

/// What a one-off run found where a check has no data, one phrase each
/// (used only for the checks that lack data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFindings {
    /// What the registry answered instead of registration data, e.g.
    /// `rdap: not found (404)`, or `no record`.
    pub registry: String,
    /// Why the delegation was not probed.
    pub delegation: String,
    /// Why DNSSEC was not probed.
    pub dnssec: String,
}

impl Mode {
    /// Why the registry's facts are missing; `answer` is what the registry
    /// answered instead when it was asked ([`HealthFacts::registry_answer`]).
    fn no_registry(&self, answer: Option<&str>) -> String {
        match self {
            Self::Operator => match answer {
                Some(answer) => {
                    format!("{REGISTRY_ANSWER_PREFIX}{answer}{REGISTRY_ASKED_AGAIN}")
                }
                None => "the registry has not been asked yet".to_owned(),
            },
            Self::OneOff(found) => format!(
                "the registry returned no registration data: {}",
                found.registry
            ),
        }
    }

    /// How the expected name servers are named: the spec's field, or the
    /// one-off run's option.
    fn expected_nameservers(&self) -> &'static str {
        match self {
            Self::Operator => "expectedNameservers",
            Self::OneOff(_) => "--expected-nameserver",
        }
    }

    /// Why a missing registry lock does not count against health with
    /// `registryLock: Ignore`: the spec's setting, or what a one-off run
    /// (which has no option for it) does with the lock.
    fn lock_not_required(&self) -> &'static str {
        match self {
            Self::Operator => "not required (registryLock: Ignore)",
            Self::OneOff(_) => "reported, not required",
        }
    }

    /// Why the delegation view is missing.
    fn no_delegation(&self) -> String {
        match self {
            Self::Operator => "the delegation has not been checked yet".to_owned(),
            Self::OneOff(found) => {
                format!("the delegation could not be probed: {}", found.delegation)
            }
        }
    }

    /// Why the DNSSEC view is missing.
    fn no_dnssec(&self) -> String {
        match self {
            Self::Operator => "DNSSEC has not been checked yet".to_owned(),
            Self::OneOff(found) => format!("DNSSEC could not be probed: {}", found.dnssec),
        }
    }
}

impl HealthFacts {
    /// The registry's facts among a check's reports: those of an RDAP
    /// answer proving registration, else of a WHOIS one. The DNS's name
    /// servers are the parent's view, not the registry's.
    pub fn from_reports(reports: &[CheckReport]) -> Self {
        let registry = [CheckKind::Rdap, CheckKind::Whois].iter().find_map(|kind| {
            reports
                .iter()
                .find(|r| r.kind == *kind && r.outcome == CheckOutcome::Registered)
                .and_then(|r| r.registration.clone())
        });
        let asked = reports.iter().any(|r| {
            matches!(r.kind, CheckKind::Rdap | CheckKind::Whois)
                && r.outcome != CheckOutcome::Skipped
        });
        Self {
            registry_answer: (registry.is_none() && asked).then(|| registry_finding(reports)),
            registry,
            ..Self::default()
        }
    }
}

/// What the registry's checks among `reports` said, when they gave no
/// registration data: `rdap: <outcome> (<detail or error>); whois: …`, or
/// that neither was asked.
pub fn registry_finding(reports: &[CheckReport]) -> String {
    let said: Vec<String> = reports
        .iter()
        .filter(|r| matches!(r.kind, CheckKind::Rdap | CheckKind::Whois))
        .filter(|r| r.outcome != CheckOutcome::Skipped)
        .map(|r| {
            let what = r.error.as_deref().unwrap_or(&r.detail);
            let what = if what.is_empty() { "no record" } else { what };
            if r.outcome == CheckOutcome::Registered {
                format!(
                    "{}: {what}, without registrar, expiry, statuses or name servers",
                    r.kind
                )
            } else {
                format!("{}: {} ({what})", r.kind, r.outcome.as_str())
            }
        })
        .collect();
    if said.is_empty() {
        "no record (neither RDAP nor WHOIS was asked)".to_owned()
    } else {
        said.join("; ")
    }
}

/// What [`evaluate`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthReport {
    /// The new health part of the status; `None` when health mode is off.
    pub state: Option<HealthState>,
    /// The changes to announce, once the status showing them is written.
    pub events: Vec<HealthEvent>,
}

/// A change worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// The sponsoring registrar changed (a transfer).
    RegistrarChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// EPP statuses were added or removed.
    StatusesChanged {
        /// Statuses set now that were not before.
        added: Vec<String>,
        /// Statuses no longer set.
        removed: Vec<String>,
    },
    /// The expiry moved later: the registration was renewed.
    Renewed {
        /// The old expiry.
        from: Timestamp,
        /// The new expiry.
        to: Timestamp,
    },
    /// The expiry moved earlier: a renewal undone (refunded within its
    /// grace period), a correction by the registrar or registry, or an
    /// error in the registry's data; never a normal event.
    ExpiryShortened {
        /// The old expiry.
        from: Timestamp,
        /// The new, earlier expiry.
        to: Timestamp,
    },
    /// The name servers at the registry changed.
    NameserversChanged {
        /// Before.
        from: Vec<String>,
        /// After.
        to: Vec<String>,
    },
    /// The registry lock was set and is not anymore.
    LockLost {
        /// The `server*Prohibited` statuses now missing.
        missing: Vec<String>,
    },
    /// `ExpiringSoon` turned true from false (not at its first known
    /// state: that is the baseline).
    ExpiringSoon {
        /// The expiry.
        expires_at: Timestamp,
        /// The warning period it is within (`expiryWarning`).
        warning: Duration,
    },
    /// `DNSSECValid` turned to a reason that makes the domain unhealthy
    /// from a known state (`True`, or another `False` reason); its first
    /// known state is the baseline, not announced.
    DnssecInvalid {
        /// The condition's reason, also the Event's.
        reason: dnssec::Reason,
        /// The condition's message.
        message: String,
    },
}

/// A kind of registration change (the `kind` of
/// `domain_monitor.health.registration.changes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationChange {
    /// The registrar changed.
    Registrar,
    /// EPP statuses changed.
    Statuses,
    /// The expiry moved later.
    Renewed,
    /// The expiry moved earlier.
    ExpiryShortened,
    /// The name servers at the registry changed.
    Nameservers,
}

impl RegistrationChange {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Registrar,
        Self::Statuses,
        Self::Renewed,
        Self::ExpiryShortened,
        Self::Nameservers,
    ];

    /// The word in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registrar => "registrar",
            Self::Statuses => "statuses",
            Self::Renewed => "renewed",
            Self::ExpiryShortened => "expiry_shortened",
            Self::Nameservers => "nameservers",
        }
    }
}

crate::words!(RegistrationChange, "registration change");

impl HealthEvent {
    /// The Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::RegistrarChanged { .. } => "RegistrarChanged",
            Self::StatusesChanged { .. } => "StatusesChanged",
            Self::Renewed { .. } => "Renewed",
            Self::ExpiryShortened { .. } => "ExpiryShortened",
            Self::NameserversChanged { .. } => "NameserversChanged",
            Self::LockLost { .. } => "LockLost",
            Self::ExpiringSoon { .. } => "ExpiringSoon",
            Self::DnssecInvalid { reason, .. } => reason.as_str(),
        }
    }

    /// Whether the Event is a warning (else normal).
    pub fn is_warning(&self) -> bool {
        !matches!(self, Self::Renewed { .. })
    }

    /// The registration change it counts as, if any.
    pub fn registration_change(&self) -> Option<RegistrationChange> {
        match self {
            Self::RegistrarChanged { .. } => Some(RegistrationChange::Registrar),
            Self::StatusesChanged { .. } => Some(RegistrationChange::Statuses),
            Self::Renewed { .. } => Some(RegistrationChange::Renewed),
            Self::ExpiryShortened { .. } => Some(RegistrationChange::ExpiryShortened),
            Self::NameserversChanged { .. } => Some(RegistrationChange::Nameservers),
            Self::LockLost { .. } | Self::ExpiringSoon { .. } | Self::DnssecInvalid { .. } => None,
        }
    }

    /// The Event's note: what changed and what to do.
    pub fn note(&self) -> String {
        match self {
            Self::RegistrarChanged { from, to } => format!(
                "the registrar changed from {from} to {to}: if you did not transfer the domain, contact both registrars at once"
            ),
            Self::StatusesChanged { added, removed } => {
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("added {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!("removed {}", removed.join(", ")));
                }
                format!(
                    "the registry statuses changed ({}): check that you or your registrar asked for this",
                    parts.join("; ")
                )
            }
            Self::Renewed { from, to } => format!(
                "renewed: the registration now expires on {} (was {})",
                day(*to),
                day(*from)
            ),
            Self::ExpiryShortened { from, to } => format!(
                "the registration now expires on {}, earlier than {}: a renewal may have been undone; check the domain's term with your registrar",
                day(*to),
                day(*from)
            ),
            Self::NameserversChanged { from, to } => format!(
                "the name servers at the registry changed from {} to {}: if you did not change them, contact your registrar at once",
                list(from),
                list(to)
            ),
            Self::LockLost { missing } => format!(
                "the registry lock is gone ({} missing): ask your registrar to have the registry set it again",
                missing.join(", ")
            ),
            Self::ExpiringSoon {
                expires_at,
                warning,
            } => format!(
                "the registration expires on {}, within the warning of {}: renew it with your registrar or check its auto-renewal",
                day(*expires_at),
                span(*warning)
            ),
            Self::DnssecInvalid { message, .. } => format!("DNSSEC: {message}"),
        }
    }
}

// === evaluate ===

/// The health part of the status after a check: the new `status.health`
/// and conditions, and the events of what changed since `previous` (what
/// the status showed). Health off (`spec` is `None`): nothing.
pub fn evaluate(
    spec: Option<&HealthSpec>,
    facts: &HealthFacts,
    previous: Option<&HealthState>,
    generation: Option<i64>,
    now: Timestamp,
) -> HealthReport {
    let Some(spec) = spec else {
        return HealthReport::default();
    };
    let before = previous.and_then(|p| p.status.registration.as_ref());
    let registration = match &facts.registry {
        Some(registry) if has_registry_facts(registry) => {
            Some(RegistrationView::merged(before, registry))
        }
        _ => before.cloned(),
    };
    let lock = registration.as_ref().and_then(LockView::of);
    let mut status = HealthStatus {
        registration,
        lock,
        delegation: facts
            .delegation
            .clone()
            .or_else(|| previous.and_then(|p| p.status.delegation.clone())),
        dnssec: None,
    };
    if spec.dnssec != DnssecPolicy::Ignore {
        status.dnssec = facts
            .dnssec
            .clone()
            .or_else(|| previous.and_then(|p| p.status.dnssec.clone()));
    }

    let unreadable_warning = read_expiry_warning(spec).err();
    let warning = expiry_warning(spec);
    let old = previous.map_or(&[][..], |p| p.conditions.as_slice());
    let mode = &facts.mode;
    // A check that did not ask the registry keeps what it last answered.
    let registry_answer = facts
        .registry_answer
        .clone()
        .or_else(|| last_registry_answer(previous));
    let no_registry = mode.no_registry(registry_answer.as_deref());
    let mut verdicts = vec![
        lock_condition(
            spec,
            status.lock.as_ref(),
            status.registration.is_some(),
            &no_registry,
            mode,
        ),
        expiry_condition(status.registration.as_ref(), warning, now, &no_registry)
            .unreadable_warning(unreadable_warning.as_deref()),
        delegation_condition(
            spec,
            status.delegation.as_ref(),
            if status.registration.is_some() {
                ""
            } else {
                &no_registry
            },
            mode,
        ),
    ];
    if spec.dnssec != DnssecPolicy::Ignore {
        verdicts.push(dnssec_condition(spec.dnssec, status.dnssec.as_ref(), mode));
    }
    let dnssec_problem = verdicts
        .iter()
        .find(|v| v.type_ == DNSSEC_VALID && v.problem)
        .and_then(|v| Some((v.reason.parse::<dnssec::Reason>().ok()?, v.message.clone())));
    let healthy = healthy_condition(
        &status,
        &verdicts,
        facts.availability,
        mode,
        &no_registry,
        registry_answer.is_some(),
    );
    let conditions = std::iter::once(&healthy)
        .chain(&verdicts)
        .map(|v| v.condition(old, generation, now))
        .collect();
    let state = HealthState { status, conditions };

    let mut events = previous
        .and_then(|p| p.status.registration.as_ref())
        .zip(state.status.registration.as_ref())
        .map(|(before, after)| registration_changes(before, after))
        .unwrap_or_default();
    let was_locked = previous
        .and_then(|p| p.status.lock.as_ref())
        .is_some_and(|l| l.locked);
    if let Some(lock) = state
        .status
        .lock
        .as_ref()
        .filter(|l| was_locked && !l.locked)
    {
        events.push(HealthEvent::LockLost {
            missing: lock.missing.clone(),
        });
    }
    // Events announce a change from a known state, the same rule for
    // every condition: the first known state (at the first check, or when
    // the data first comes) is the baseline, shown by the conditions and
    // the metrics, not announced.
    let was_not_expiring = previous
        .and_then(|p| p.condition(EXPIRING_SOON))
        .is_some_and(|c| c.status == "False");
    let expiring = state
        .condition(EXPIRING_SOON)
        .is_some_and(|c| c.status == "True");
    if expiring
        && was_not_expiring
        && let Some(expires_at) = state
            .status
            .registration
            .as_ref()
            .and_then(|r| r.expires_at.as_ref())
    {
        events.push(HealthEvent::ExpiringSoon {
            expires_at: expires_at.0,
            warning,
        });
    }
    let dnssec_before = previous
        .and_then(|p| p.condition(DNSSEC_VALID))
        .filter(|c| c.status != "Unknown")
        .map(|c| c.reason.as_str());
    if let Some((reason, message)) = dnssec_problem
        && let Some(before) = dnssec_before
        && before != reason.as_str()
    {
        events.push(HealthEvent::DnssecInvalid { reason, message });
    }
    HealthReport {
        state: Some(state),
        events,
    }
}

/// What the registry answered at an earlier check that gave no data, as
/// `RegistryLocked`'s message (`NoStatuses`) kept it.
fn last_registry_answer(previous: Option<&HealthState>) -> Option<String> {
    let message = &previous?.condition(REGISTRY_LOCKED)?.message;
    message
        .strip_prefix(REGISTRY_ANSWER_PREFIX)?
        .strip_suffix(REGISTRY_ASKED_AGAIN)
        .map(str::to_owned)
}

const REGISTRY_ANSWER_PREFIX: &str = "the registry returned no registration data: ";
const REGISTRY_ASKED_AGAIN: &str = "; it is asked again at the next registration check";

/// `spec.expiryWarning`, or [`DEFAULT_EXPIRY_WARNING`] when absent or
/// unreadable. The CRD's schema rejects most unreadable values (a number of
/// more than 9 digits, another unit); one that still gets through (an
/// older CRD, a sum too large for a duration) is named in `ExpiringSoon`'s
/// message, see [`read_expiry_warning`].
pub fn expiry_warning(spec: &HealthSpec) -> Duration {
    read_expiry_warning(spec).unwrap_or(DEFAULT_EXPIRY_WARNING)
}

/// `spec.expiryWarning` read with humantime: [`DEFAULT_EXPIRY_WARNING`]
/// when absent; `Err` with the value when it cannot be read.
pub fn read_expiry_warning(spec: &HealthSpec) -> Result<Duration, String> {
    match spec.expiry_warning.as_deref() {
        None => Ok(DEFAULT_EXPIRY_WARNING),
        Some(raw) => humantime::parse_duration(raw).map_err(|_| raw.to_owned()),
    }
}

fn host_set(names: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = names
        .iter()
        .map(|n| delegation::normalize(n))
        .filter(|n| !n.is_empty())
        .collect();
    set.into_iter().collect()
}

fn status_set(statuses: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = statuses.iter().collect();
    set.into_iter().cloned().collect()
}

fn has_registry_facts(facts: &RegistrationFacts) -> bool {
    facts.registrar.is_some()
        || facts.expires.is_some()
        || !facts.statuses.is_empty()
        || !facts.nameservers.is_empty()
}

fn has_status(statuses: &[String], code: &str) -> bool {
    statuses.iter().any(|s| s.eq_ignore_ascii_case(code))
}

impl RegistrationView {
    /// `before` updated with what the registry said now: a fact it did not
    /// mention stays.
    fn merged(before: Option<&Self>, facts: &RegistrationFacts) -> Self {
        let before = before.cloned().unwrap_or_default();
        Self {
            registrar: facts.registrar.clone().or(before.registrar),
            expires_at: facts
                .expires
                .map(crate::resource::time)
                .or(before.expires_at),
            statuses: if facts.statuses.is_empty() {
                before.statuses
            } else {
                status_set(&facts.statuses)
            },
            nameservers: if facts.nameservers.is_empty() {
                before.nameservers
            } else {
                host_set(&facts.nameservers)
            },
        }
    }
}

impl LockView {
    /// The lock statuses of `registration`; `None` without statuses.
    fn of(registration: &RegistrationView) -> Option<Self> {
        let statuses = &registration.statuses;
        if statuses.is_empty() {
            return None;
        }
        let missing: Vec<String> = REGISTRY_LOCK_STATUSES
            .iter()
            .filter(|s| !has_status(statuses, s))
            .map(|s| (*s).to_owned())
            .collect();
        Some(Self {
            locked: missing.is_empty(),
            missing,
            client: REGISTRAR_LOCK_STATUSES
                .iter()
                .filter(|s| has_status(statuses, s))
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }
}

fn registration_changes(before: &RegistrationView, after: &RegistrationView) -> Vec<HealthEvent> {
    let mut events = Vec::new();
    if let (Some(from), Some(to)) = (&before.registrar, &after.registrar)
        && !from.eq_ignore_ascii_case(to)
    {
        events.push(HealthEvent::RegistrarChanged {
            from: from.clone(),
            to: to.clone(),
        });
    }
    if !before.statuses.is_empty() && !after.statuses.is_empty() {
        let added: Vec<String> = after
            .statuses
            .iter()
            .filter(|s| !has_status(&before.statuses, s))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .statuses
            .iter()
            .filter(|s| !has_status(&after.statuses, s))
            .cloned()
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            events.push(HealthEvent::StatusesChanged { added, removed });
        }
    }
    if let (Some(from), Some(to)) = (&before.expires_at, &after.expires_at) {
        if to.0 > from.0 {
            events.push(HealthEvent::Renewed {
                from: from.0,
                to: to.0,
            });
        } else if to.0 < from.0 {
            events.push(HealthEvent::ExpiryShortened {
                from: from.0,
                to: to.0,
            });
        }
    }
    if !before.nameservers.is_empty()
        && !after.nameservers.is_empty()
        && before.nameservers != after.nameservers
    {
        events.push(HealthEvent::NameserversChanged {
            from: before.nameservers.clone(),
            to: after.nameservers.clone(),
        });
    }
    events
}

// === conditions ===

/// One condition's status, reason and message, and whether it makes the
/// domain unhealthy.
#[derive(Debug)]
struct Verdict {
    type_: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
    /// Counts against `Healthy`.
    problem: bool,
    /// What is wrong in a few words, for `Healthy`'s message (a problem's).
    summary: String,
    /// No data yet: named in `Healthy`'s message.
    unknown: bool,
    /// No data for a check the spec asks for: `Healthy` cannot be `True`.
    pending: bool,
}

impl Verdict {
    fn new(
        type_: &'static str,
        status: &'static str,
        reason: &'static str,
        message: String,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message,
            problem: false,
            summary: String::new(),
            unknown: status == "Unknown",
            pending: false,
        }
    }

    /// Counts against `Healthy`, summed up there as `summary`.
    fn problem(mut self, summary: String) -> Self {
        self.problem = true;
        self.summary = summary;
        self
    }

    /// The message told that `expiryWarning` (`raw`) could not be read and
    /// the default is used instead.
    fn unreadable_warning(mut self, raw: Option<&str>) -> Self {
        if let Some(raw) = raw {
            self.message = format!(
                "{}; expiryWarning {raw:?} is not a duration the operator can read, so the default {} is used: set it to a duration such as 30d",
                self.message,
                span(DEFAULT_EXPIRY_WARNING)
            );
        }
        self
    }

    /// Without data, for a check the spec asks for when `asked`.
    fn pending_if(mut self, asked: bool) -> Self {
        self.pending = self.unknown && asked;
        self
    }

    /// The condition, keeping its `lastTransitionTime` while its status
    /// holds.
    fn condition(&self, old: &[Condition], generation: Option<i64>, now: Timestamp) -> Condition {
        crate::resource::condition(
            old,
            self.type_,
            self.status,
            self.reason,
            &self.message,
            generation,
            now,
        )
    }
}

fn lock_condition(
    spec: &HealthSpec,
    lock: Option<&LockView>,
    asked: bool,
    no_registry: &str,
    mode: &Mode,
) -> Verdict {
    let Some(lock) = lock else {
        let message = if asked {
            "the registry published no statuses for the domain, so its lock is not known".to_owned()
        } else {
            no_registry.to_owned()
        };
        return Verdict::new(REGISTRY_LOCKED, "Unknown", "NoStatuses", message)
            .pending_if(spec.registry_lock == RegistryLockPolicy::Required);
    };
    let client = if lock.client.is_empty() {
        String::new()
    } else {
        format!("; the registrar's lock is set ({})", lock.client.join(", "))
    };
    if lock.locked {
        return Verdict::new(
            REGISTRY_LOCKED,
            "True",
            "Locked",
            format!(
                "the registry lock is set ({}){client}",
                REGISTRY_LOCK_STATUSES.join(", ")
            ),
        );
    }
    let verdict = Verdict::new(
        REGISTRY_LOCKED,
        "False",
        "NotLocked",
        match spec.registry_lock {
            RegistryLockPolicy::Required => format!(
                "no registry lock: {} missing{client}; ask your registrar to have the registry lock the domain",
                lock.missing.join(", ")
            ),
            RegistryLockPolicy::Ignore => format!(
                "no registry lock ({} missing){client}; {}",
                lock.missing.join(", "),
                mode.lock_not_required()
            ),
        },
    );
    if spec.registry_lock == RegistryLockPolicy::Required {
        verdict.problem(format!(
            "no registry lock: {} missing",
            lock.missing.join(", ")
        ))
    } else {
        verdict
    }
}

fn expiry_condition(
    registration: Option<&RegistrationView>,
    warning: Duration,
    now: Timestamp,
    no_registry: &str,
) -> Verdict {
    let Some(expires_at) = registration
        .and_then(|r| r.expires_at.as_ref())
        .map(|t| t.0)
    else {
        let message = if registration.is_some() {
            "the registry published no expiry date; check it with your registrar".to_owned()
        } else {
            no_registry.to_owned()
        };
        return Verdict::new(EXPIRING_SOON, "Unknown", "ExpiryUnknown", message).pending_if(true);
    };
    let warning_text = span(warning);
    if expires_at <= now {
        return Verdict::new(
            EXPIRING_SOON,
            "True",
            "Expired",
            format!(
                "the registration expired on {}: renew it with your registrar now, while the registry's grace period lasts",
                day(expires_at)
            ),
        )
        .problem(format!("expired on {}", day(expires_at)));
    }
    let left = Duration::try_from(expires_at.duration_since(now)).unwrap_or(Duration::ZERO);
    if left <= warning {
        Verdict::new(
            EXPIRING_SOON,
            "True",
            "WithinWarning",
            format!(
                "the registration expires on {}, within the warning of {warning_text}: renew it with your registrar or check its auto-renewal",
                day(expires_at)
            ),
        )
        .problem(format!("expires on {}", day(expires_at)))
    } else {
        Verdict::new(
            EXPIRING_SOON,
            "False",
            "NotExpiringSoon",
            format!(
                "the registration expires on {}, after the warning of {warning_text}",
                day(expires_at)
            ),
        )
    }
}

fn delegation_condition(
    spec: &HealthSpec,
    delegation: Option<&DelegationView>,
    no_registry: &str,
    mode: &Mode,
) -> Verdict {
    let Some(view) = delegation else {
        return Verdict::new(
            DELEGATION_DRIFT,
            "Unknown",
            "NotChecked",
            mode.no_delegation(),
        )
        .pending_if(!spec.expected_nameservers.is_empty());
    };
    let any_view = !view.parent.is_empty()
        || !view.registry.is_empty()
        || view
            .child
            .iter()
            .any(|c| c.answered && c.authoritative && !c.nameservers.is_empty());
    if view.drift.is_empty() && view.lame.is_empty() && !any_view {
        // Nothing to compare: no claim either way.
        return Verdict::new(
            DELEGATION_DRIFT,
            "Unknown",
            "NoNameservers",
            consistent_message(
                view,
                !spec.expected_nameservers.is_empty(),
                no_registry,
                mode,
            ),
        )
        .pending_if(!spec.expected_nameservers.is_empty());
    }
    if view.drift.is_empty() && view.lame.is_empty() {
        return Verdict::new(
            DELEGATION_DRIFT,
            "False",
            "Consistent",
            consistent_message(
                view,
                !spec.expected_nameservers.is_empty(),
                no_registry,
                mode,
            ),
        );
    }
    // One sentence per differing view, then what to do.
    let mut sentences: Vec<String> = view.drift.iter().map(|d| sentence(d)).collect();
    let mut summary = Vec::new();
    if !view.drift.is_empty() {
        summary.push(drift_summary(view, &spec.expected_nameservers, mode));
    }
    if !view.lame.is_empty() {
        sentences.push(sentence(&format!("Lame servers: {}", view.lame.join("; "))));
        let names: Vec<&str> = view
            .lame
            .iter()
            .map(|l| l.split_once(':').map_or(l.as_str(), |(name, _)| name))
            .collect();
        summary.push(format!("lame servers: {}", names.join(", ")));
    }
    if !view.drift.is_empty() {
        sentences.push(
            "Set the name servers at your registrar and in the domain's zone to the ones the domain should use."
                .to_owned(),
        );
    }
    if !view.lame.is_empty() {
        sentences.push(
            "Make every listed server answer for the domain with authority, or take it out of the delegation."
                .to_owned(),
        );
    }
    let reason = if view.drift.is_empty() {
        "LameServers"
    } else {
        "Drift"
    };
    Verdict::new(DELEGATION_DRIFT, "True", reason, sentences.join(" ")).problem(summary.join("; "))
}

/// A consistent delegation in words: which views were compared and agree
/// (and match the expected names when `expected`), and which views gave no
/// name servers, so were not compared: a view without data never "agrees".
/// `no_registry` is why the registry's are missing when it gave no data.
fn consistent_message(
    view: &DelegationView,
    expected: bool,
    no_registry: &str,
    mode: &Mode,
) -> String {
    let child = view
        .child
        .iter()
        .any(|c| c.answered && c.authoritative && !c.nameservers.is_empty());
    let views = [
        ("the parent", "the parent's", !view.parent.is_empty()),
        ("the registry", "the registry's", !view.registry.is_empty()),
        ("the domain's servers", "the domain's servers'", child),
    ];
    let known: Vec<&str> = views.iter().filter(|v| v.2).map(|v| v.0).collect();
    let expected_name = mode.expected_nameservers();
    let mut message = match known.as_slice() {
        [] if expected => format!("no view gave name servers to compare with {expected_name}"),
        [] => "no view gave name servers to compare".to_owned(),
        [one] if expected => format!("{one}'s name servers match {expected_name}"),
        [one] => format!("only {one} gave name servers, so there is nothing to compare"),
        many => {
            let against = if expected {
                format!(" and match {expected_name}")
            } else {
                String::new()
            };
            format!("{} agree{against}", and_list(many))
        }
    };
    for (_, whose, has) in views {
        if has {
            continue;
        }
        let why = match whose {
            "the registry's" if no_registry.is_empty() => "the registry published none",
            "the registry's" => no_registry,
            "the parent's" => "the parent lists none",
            _ => "none answered with them",
        };
        message.push_str(&format!("; {whose} name servers are not known ({why})"));
    }
    message
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Which name-server views differ from which, in a few words: "the
/// registry's name servers differ from the parent's". The reference is
/// `expected` when set, else the parent's view, else the registry's.
fn drift_summary(view: &DelegationView, expected: &[String], mode: &Mode) -> String {
    let expected = host_set(expected);
    let (reference, reference_name): (&[String], &str) = if !expected.is_empty() {
        (&expected, mode.expected_nameservers())
    } else if !view.parent.is_empty() {
        (&view.parent, "the parent's")
    } else if !view.registry.is_empty() {
        (&view.registry, "the registry's")
    } else {
        return "the name-server views differ".to_owned();
    };
    let mut differing: Vec<String> = Vec::new();
    if !view.parent.is_empty() && view.parent != reference {
        differing.push("the parent's".to_owned());
    }
    if !view.registry.is_empty() && view.registry != reference {
        differing.push("the registry's".to_owned());
    }
    let answering: Vec<&ChildView> = view
        .child
        .iter()
        .filter(|c| c.answered && c.authoritative)
        .collect();
    let other: Vec<&str> = answering
        .iter()
        .filter(|c| c.nameservers != reference)
        .map(|c| c.server.as_str())
        .collect();
    match other.as_slice() {
        [] => {}
        all if all.len() == answering.len() && all.len() > 1 => {
            differing.push("the child servers'".to_owned());
        }
        [one] => differing.push(format!("child server {one}'s")),
        some => differing.push(format!("child servers {}'", some.join(", "))),
    }
    if view.parent.is_empty() {
        // NXDOMAIN or no NS at the parent: no delegation to differ.
        differing.insert(0, "the parent does not delegate the domain".to_owned());
        return match differing.split_first() {
            Some((first, [])) => first.clone(),
            Some((first, rest)) => format!(
                "{first}; {} name servers differ from {reference_name}",
                and_list(&rest.iter().map(String::as_str).collect::<Vec<_>>())
            ),
            None => unreachable!("the parent's part was just added"),
        };
    }
    match differing.split_last() {
        None => "the parent's servers disagree".to_owned(),
        Some((last, [])) => format!("{last} name servers differ from {reference_name}"),
        Some((last, rest)) => format!(
            "{} and {last} name servers differ from {reference_name}",
            rest.join(", ")
        ),
    }
}

/// `text` as a sentence: a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn dnssec_condition(policy: DnssecPolicy, dnssec: Option<&DnssecView>, mode: &Mode) -> Verdict {
    use dnssec::Reason;
    let Some(view) = dnssec else {
        return Verdict::new(DNSSEC_VALID, "Unknown", "NotChecked", mode.no_dnssec())
            .pending_if(policy != DnssecPolicy::Ignore);
    };
    let expiry = view
        .signature_expires_at
        .as_ref()
        .map(|t| format!("; signatures expire on {}", day(t.0)))
        .unwrap_or_default();
    // Views written before `reason` existed: inferred from the booleans.
    let inferred = if view.valid {
        Some(Reason::Valid)
    } else if !view.ds_at_parent && !view.dnskey_at_child {
        Some(Reason::Unsigned)
    } else {
        None
    };
    let reason = view
        .reason
        .as_deref()
        .and_then(|r| r.parse::<Reason>().ok())
        .or(inferred);
    let problem = view
        .problem
        .clone()
        .unwrap_or_else(|| "the chain of trust does not validate".to_owned());
    match reason {
        Some(Reason::Valid) => Verdict::new(
            DNSSEC_VALID,
            "True",
            "Valid",
            format!("the chain of trust validates{expiry}"),
        ),
        Some(insecure) if insecure.is_insecure() => {
            let message = match (policy, insecure) {
                (DnssecPolicy::Required, Reason::Unsigned) => "the domain is not signed (no DS at the parent, no DNSKEY): sign the zone and publish its DS through your registrar".to_owned(),
                (_, Reason::Unsigned) => "the domain is not signed; not required (dnssec: Optional)".to_owned(),
                (DnssecPolicy::Required, _) => problem.clone(),
                _ => format!("{problem}; not required (dnssec: Optional)"),
            };
            let verdict = Verdict::new(DNSSEC_VALID, "False", insecure.as_str(), message);
            if policy == DnssecPolicy::Required {
                let summary = if insecure == Reason::Unsigned {
                    "the domain is not signed".to_owned()
                } else {
                    problem
                };
                verdict.problem(summary)
            } else {
                verdict
            }
        }
        Some(Reason::ChainBroken) => Verdict::new(
            DNSSEC_VALID,
            "False",
            Reason::ChainBroken.as_str(),
            format!(
                "{problem}: check the operator's trust anchors (DNSSEC_TRUST_ANCHORS) and the resolvers it asks"
            ),
        )
        .problem(problem),
        Some(
            Reason::SignatureExpired
            | Reason::SignatureNotYetValid
            | Reason::SignatureMissing
            | Reason::SignatureInvalid,
        ) => {
            Verdict::new(
                DNSSEC_VALID,
                "False",
                reason.map_or("Invalid", Reason::as_str),
                format!(
                    "validating resolvers already fail to resolve the domain (SERVFAIL): {problem}{expiry}: re-sign the zone on every listed server now (and check their clocks)"
                ),
            )
            .problem(problem)
        }
        // DSMismatch, MissingDNSKEY: the problem says what to publish.
        other => Verdict::new(
            DNSSEC_VALID,
            "False",
            other.map_or("Invalid", Reason::as_str),
            format!(
                "validating resolvers already fail to resolve the domain (SERVFAIL): {problem}{expiry}"
            ),
        )
        .problem(problem),
    }
}

fn healthy_condition(
    status: &HealthStatus,
    verdicts: &[Verdict],
    availability: Option<Availability>,
    mode: &Mode,
    no_registry: &str,
    registry_answered: bool,
) -> Verdict {
    if let Some(free @ (Availability::Available | Availability::Unconfirmed)) = availability {
        // "No longer" only when a registration was seen before.
        let message = if status.registration.is_some() {
            format!(
                "the registry no longer has the domain (availability {free}): register it again at once, before someone else does"
            )
        } else {
            format!(
                "the domain is not registered (availability {free}): register it at once, before someone else does"
            )
        };
        return Verdict::new(HEALTHY, "False", "NotRegistered", message);
    }
    // What fails: (reason, what to name in the message).
    let mut problems: Vec<(&'static str, String)> = verdicts
        .iter()
        .filter(|v| v.problem)
        .map(|v| (v.reason, format!("{} ({})", v.type_, v.summary)))
        .collect();
    let statuses = status
        .registration
        .as_ref()
        .map_or(&[][..], |r| r.statuses.as_slice());
    if let Some(hold) = HOLD_STATUSES.iter().find(|s| has_status(statuses, s)) {
        problems.insert(
            0,
            (
                "OnHold",
                format!("OnHold (the registry has the domain on {hold}, so it does not resolve: ask your registrar why and have it lifted)"),
            ),
        );
    }
    if let Some(deletion) = DELETION_STATUSES.iter().find(|s| has_status(statuses, s)) {
        problems.insert(
            0,
            (
                "BeingDeleted",
                format!("BeingDeleted (the registry is deleting the domain, {deletion}: restore it through your registrar now)"),
            ),
        );
    }
    if let Some((reason, _)) = problems.first() {
        let named: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
        return Verdict::new(
            HEALTHY,
            "False",
            reason,
            format!(
                "Not healthy: {}. Each condition says what to do.",
                named.join("; ")
            ),
        );
    }
    // An answer without data already says the registry is asked again.
    let later = match mode {
        Mode::Operator if !registry_answered => {
            "; health is known after the next registration check"
        }
        _ => "",
    };
    if status.registration.is_none() {
        return Verdict::new(
            HEALTHY,
            "Unknown",
            "NoRegistrationData",
            format!("{no_registry}{later}"),
        );
    }
    let pending: Vec<String> = verdicts
        .iter()
        .filter(|v| v.pending)
        .map(|v| match mode {
            Mode::Operator => format!("{} ({})", v.type_, v.message),
            Mode::OneOff(_) => format!(
                "{} (asked for by {}; {})",
                v.type_,
                one_off_option(v.type_),
                v.message
            ),
        })
        .collect();
    if !pending.is_empty() {
        let (asks, known, later) = match mode {
            Mode::Operator => (
                "the spec asks for",
                "not known yet",
                "; health is known after the next check",
            ),
            Mode::OneOff(_) => ("this run asks for", "not known", ""),
        };
        return Verdict::new(
            HEALTHY,
            "Unknown",
            "Pending",
            format!(
                "every check with data passes, but checks {asks} are {known}: {}{later}",
                pending.join("; ")
            ),
        );
    }
    let unknown: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.unknown)
        .map(|v| v.type_)
        .collect();
    let message = if unknown.is_empty() {
        "every health check passes".to_owned()
    } else {
        format!(
            "every health check with data passes; not known yet: {}",
            unknown.join(", ")
        )
    };
    Verdict::new(HEALTHY, "True", "AllChecksPassed", message)
}

/// The `check --health` option that asks for the check behind a condition.
fn one_off_option(type_: &str) -> &'static str {
    match type_ {
        DNSSEC_VALID => "--dnssec",
        DELEGATION_DRIFT => "--expected-nameserver",
        _ => "--health",
    }
}

/// A status time: whole seconds, as the API server keeps them.
fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

/// A warning period as a user writes it: `30d`, `36h`, `90m`, `45s`.
fn span(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
