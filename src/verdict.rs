//! The verdict: every checker's evidence in, one `availability` and one
//! `confidence` out. Pure code: values in, values out.
//!
//! # What each source can know
//!
//! | source | "registered" | "not found" |
//! |---|---|---|
//! | DNS (the TLD's authoritative servers) | a delegation proves it | NXDOMAIN is *absence from the zone*: held (`clientHold`/`serverHold`), redeeming and undelegated names are absent too |
//! | the registry's RDAP | a domain object proves it | only an RFC 9083 error object with 404 from the registry's own server means *not in the registry database*; any other 404 is inconclusive (see [`crate::check::rdap`]) |
//! | WHOIS (optional: gTLDs need not run it since 28 Jan 2025) | a record proves it | the registry's own "not found" wording; a bare `NOT FOUND` is weak (throttled servers send it too) |
//! | a registrar API | "taken" | "available", premium and reserved flags |
//! | HTTP | any answer | nothing |
//!
//! "Not in the registry database" is still not "registrable": a name under a
//! privately run suffix (Public Suffix List PRIVATE section) is unknown to the
//! TLD's registry, and reserved names (ICANN Registry Agreement Specification
//! 5, registry lists) look free to every source. Those come in as
//! [`Standing`], decided before any check ([`crate::standing`]).
//!
//! # Confidence model
//!
//! Each report is a piece of evidence with a weight: the probability that it
//! is right on its own (see [`registered_weight`] and [`free_weight`]).
//! Registration evidence from independent reports combines as a noisy-OR,
//! `1 − Π(1 − wᵢ)`. "Not found" evidence combines as a noisy-OR over *source
//! kinds*, each kind counted once at its best report and capped at 0.85, so
//! no amount of "not found" from one kind of source reaches the default
//! threshold of 0.9: it takes two kinds that agree. Then, in order:
//!
//! 1. **Lifecycle statuses** from RDAP/WHOIS win. When several are present the
//!    earliest phase wins (`autoRenewPeriod` → `redemptionPeriod` /
//!    `pendingRestore` → `pendingDelete`): gTLD redemption records carry
//!    `pendingDelete` *and* `redemptionPeriod`. Hold statuses are registered
//!    names merely absent from DNS.
//! 2. **Any evidence of registration** gives `Registered`; contradicting "not
//!    found" answers lower nothing (this defeats RDAP servers that answer 404
//!    for registered names).
//! 3. **Reserved** names (a reserved list, or a registry/registrar answer
//!    saying reserved or premium) give `Reserved`.
//! 4. A name under a **private suffix** whose registry no configured RDAP or
//!    WHOIS server speaks for is `Unknown`, whatever the TLD's servers say.
//! 5. **Available** needs a registry-side source (RDAP, WHOIS, a registrar)
//!    saying "not found" and the combined weight at or above the threshold;
//!    below it the reading is `Unconfirmed`, which is no promise.
//!
//! # Confirmation over time (RDAP-only registries)
//!
//! Where WHOIS is absent, starved or unreadable, DNS + RDAP must suffice, but
//! a single round of them (0.5 and 0.75: 0.875) stays below 0.9 because
//! reserved and premium names look free to both. Time confirms them: a
//! **second RDAP error object at least
//! [`VerdictPolicy::registry_confirm_after`] after the first** of an unbroken
//! run (0.75 → 0.78, see [`Background::registry_absent_since`]), with the zone
//! showing no delegation all along (NXDOMAIN 0.5 → 0.58; a delegation would
//! have ended the run), gives 0.908 and a notification. Within one round,
//! NXDOMAIN from **two different authoritative servers** also counts 0.58 (a
//! lame or stale server cannot make a name look free alone), but without the
//! second registry answer that stays below (0.895). WHOIS or a registrar
//! agreeing confirms at once.
//!
//! # Re-verification
//!
//! A name already confirmed `Available` is re-checked by the cheap layers
//! only: while DNS still answers NXDOMAIN, the verdict keeps the confirmed
//! reading ([`Background::confirmed`]); any sign of registration ends it.
//!
//! 6. Otherwise `Unknown` (some answers, none conclusive) or `Error` (every
//!    checker failed). Rate-limited, skipped and inconclusive reports carry
//!    no weight.

use std::{collections::BTreeMap, time::Duration};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Layer, RegistrationFacts, Strength},
    config::CheckerArgs,
    ratelimit::Urgency,
    resource::Availability,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Highest weight one kind of source gives "not found", however many of its
/// reports agree: below the default threshold, so two kinds must agree.
pub const MAX_FREE_WEIGHT_PER_KIND: f64 = 0.85;

/// The knobs of the verdict, from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictPolicy {
    /// Confidence an `Available` verdict needs before a notification goes out;
    /// below it the reading is `Unconfirmed`.
    pub confidence_threshold: f64,
    /// Registry grace after expiry before redemption (gTLD auto-renew grace: 45 days).
    pub auto_renew_grace: Duration,
    /// Length of the redemption period (30 days at most gTLD registries).
    pub redemption_period: Duration,
    /// Length of pendingDelete before the name is released (5 days).
    pub pending_delete_period: Duration,
    /// How long after the registry's first "not in the database" answer a
    /// second one confirms it (`REGISTRY_CONFIRM_AFTER`).
    pub registry_confirm_after: Duration,
}

impl VerdictPolicy {
    /// The knobs `args` set (`CONFIDENCE_THRESHOLD`, `AUTO_RENEW_GRACE`,
    /// `REDEMPTION_PERIOD`, `PENDING_DELETE_PERIOD`, `REGISTRY_CONFIRM_AFTER`).
    pub fn from_args(args: &CheckerArgs) -> Self {
        Self {
            confidence_threshold: args.confidence_threshold,
            auto_renew_grace: args.auto_renew_grace,
            redemption_period: args.redemption_period,
            pending_delete_period: args.pending_delete_period,
            registry_confirm_after: args.registry_confirm_after,
        }
    }
}

impl Default for VerdictPolicy {
    fn default() -> Self {
        Self {
            confidence_threshold: 0.9,
            auto_renew_grace: 45 * DAY,
            redemption_period: 30 * DAY,
            pending_delete_period: 5 * DAY,
            registry_confirm_after: Duration::from_secs(30),
        }
    }
}

/// Where a name stands before any check is run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Standing {
    /// A registrable name whose registry the checkers ask.
    #[default]
    Registrable,
    /// Under a privately run suffix (Public Suffix List PRIVATE section) with
    /// no RDAP or WHOIS override for it: the TLD's registry never holds such
    /// names, so its "not found" says nothing.
    UnroutedPrivate {
        /// The private suffix, e.g. `uk.com`.
        suffix: String,
    },
    /// On a reserved list: withheld from registration by policy.
    Reserved {
        /// Which list and why, e.g. `ICANN RA Specification 5 §3 (nic)`.
        reason: String,
    },
}

/// A confirmed `Available` reading that cheap re-checks may keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmed {
    /// When the deep layers last confirmed it.
    pub at: Timestamp,
    /// The confidence then.
    pub confidence: f64,
    /// Who confirmed it.
    pub confirmed_by: Vec<ConfirmedBy>,
}

/// What the verdict knows besides this round's reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Background {
    /// Where the name stands (reserved, private registry, registrable).
    pub standing: Standing,
    /// When the registry's RDAP first said "not in the registry database"
    /// (a strong 404 error object) in the current unbroken run of such
    /// answers, at an earlier check of this domain.
    pub registry_absent_since: Option<Timestamp>,
    /// The last confirmed `Available` reading, if the domain has one.
    pub confirmed: Option<Confirmed>,
    /// The reading before this check (`Unknown` for a new name): a name that
    /// was taken and now looks free is confirmed before routine work.
    pub previously: Availability,
    /// How urgent this name's deep-layer requests are (priority, drop
    /// window); raised to [`Urgency::Confirming`] (a watched name's to
    /// [`Urgency::ConfirmingWatched`]) while a change is confirmed.
    pub urgency: Urgency,
}

impl Background {
    /// The urgency of the deep layers once the fast layer has `reports`: a
    /// change to confirm (a taken name now looking free, or a registry
    /// "not found" awaiting its second answer) goes first.
    pub fn urgency_after_fast(&self, reports: &[CheckReport]) -> Urgency {
        let was_taken = self.previously.is_held();
        let looks_free = !reports.iter().any(|r| {
            r.kind.layer() == Layer::Fast
                && matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved)
        });
        if looks_free && (was_taken || self.registry_absent_since.is_some()) {
            if self.urgency >= Urgency::Watched {
                Urgency::ConfirmingWatched
            } else {
                Urgency::Confirming
            }
        } else {
            self.urgency
        }
    }
}

/// Who confirmed that a name is available: the words of the notification's
/// `confirmed_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmedBy {
    /// The registry: its RDAP service or its WHOIS server.
    Registry,
    /// A registrar's availability API.
    Registrar,
}

impl ConfirmedBy {
    /// Every confirmer, in declaration order.
    pub const ALL: [Self; 2] = [Self::Registry, Self::Registrar];

    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::Registrar => "registrar",
        }
    }
}

crate::words!(ConfirmedBy, "confirmer");

/// The decision about one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The availability to report.
    pub availability: Availability,
    /// How sure, 0.0–1.0, rounded to three decimals.
    pub confidence: f64,
    /// What the checkers revealed, merged (RDAP over WHOIS over DNS per field).
    pub registration: RegistrationFacts,
    /// When the registry is expected to release the name.
    pub predicted_drop_at: Option<Timestamp>,
    /// One line saying why.
    pub reason: String,
    /// True when `availability` is `Available` (which needs the threshold).
    pub notify: bool,
    /// Who confirmed an `Available` verdict; empty otherwise.
    pub confirmed_by: Vec<ConfirmedBy>,
    /// True when this round's RDAP answer was the registry's own "not in the
    /// registry database" (a strong 404 error object): the controller keeps
    /// the run of such answers for [`Background::registry_absent_since`].
    pub registry_absent: bool,
}

impl Verdict {
    /// Whether the verdict settles the question ([`Availability::is_conclusive`]:
    /// anything but `Unknown`, `Error` and `Invalid`).
    pub fn is_conclusive(&self) -> bool {
        self.availability.is_conclusive()
    }

    /// True when the reading waits only for its confirmation over time: the
    /// registry said "not found" and a second answer after
    /// [`VerdictPolicy::registry_confirm_after`] may confirm it.
    pub fn awaits_registry_confirmation(&self) -> bool {
        self.availability == Availability::Unconfirmed && self.registry_absent
    }
}

/// The layer to run next, or `None` when the evidence so far settles it.
///
/// Fast checks that prove registration stop the escalation (the deep layers
/// are rate-limited and precious); anything else goes on to layer 2, and a
/// name layer 2 did not prove registered is confirmed by layer 3 before
/// anyone is told it is available.
/// `done` lists the layers already run (a layer with no configured checker
/// counts as run once it was its turn).
pub fn next_layer(done: &[Layer], reports: &[CheckReport]) -> Option<Layer> {
    let ran = |layer: Layer| done.contains(&layer);
    let proves_registration = |layer: Layer| {
        reports.iter().any(|r| {
            r.kind.layer() == layer
                && matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved)
        })
    };
    let fast_says_free = reports.iter().any(|r| {
        r.kind.layer() == Layer::Fast
            && r.outcome == CheckOutcome::Available
            && r.strength == Strength::Strong
    });
    if !ran(Layer::Fast) {
        return Some(Layer::Fast);
    }
    if !ran(Layer::Reliable) {
        // A strong "not found" from DNS contradicts a web answer: confirm.
        let settled = proves_registration(Layer::Fast) && !fast_says_free;
        return (!settled).then_some(Layer::Reliable);
    }
    if !ran(Layer::Deep) {
        let settled = reports.iter().any(|r| {
            r.kind.layer() == Layer::Reliable
                && matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved)
                && r.strength == Strength::Strong
        });
        return (!settled).then_some(Layer::Deep);
    }
    None
}

/// True for a checker that waits for the other checks of its layer (up to
/// [`crate::layered::LAST_IN_LAYER_WAIT`]) and is recorded `skipped` when
/// [`needless`] finds their evidence leaves it nothing to add: the HTTP
/// probe, which waits for DNS.
pub fn runs_last_in_layer(kind: CheckKind) -> bool {
    kind == CheckKind::Http
}

/// Why `kind`'s check would add nothing to `reports` (the checks of its
/// layer that ran first), or `None` when it must run.
///
/// The HTTP probe proves registration weakly ("any answer", SPEC §3) and
/// never proves a name free ([`free_weight`]). Once DNS found the
/// delegation at the parent (a strong "registered": the TLD's own servers
/// list the name), the probe cannot change the availability (only nudge
/// the confidence from 0.9 to 0.95, which would then follow DNS latency); at 10^5 domains it
/// would cost a resolver lookup, or a TCP and TLS handshake with the
/// domain's web server, on every re-check.
pub fn needless(kind: CheckKind, reports: &[CheckReport]) -> Option<&'static str> {
    let delegated = reports.iter().any(|r| {
        r.kind == CheckKind::Dns
            && r.outcome == CheckOutcome::Registered
            && r.strength == Strength::Strong
    });
    (kind == CheckKind::Http && delegated)
        .then_some("not needed: DNS found the delegation at the parent, which proves registration")
}

/// True when the cheap layers alone still see a free name: a strong NXDOMAIN
/// and nothing that looks registered. A confirmed `Available` name whose
/// re-check says this goes no deeper.
pub fn fast_layer_still_free(reports: &[CheckReport]) -> bool {
    let fast: Vec<&CheckReport> = reports
        .iter()
        .filter(|r| r.kind.layer() == Layer::Fast)
        .collect();
    fast.iter().any(|r| {
        r.kind == CheckKind::Dns
            && r.outcome == CheckOutcome::Available
            && r.strength == Strength::Strong
    }) && !fast
        .iter()
        .any(|r| matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved))
}

/// Weighs the reports into a verdict. `now` dates the lifecycle prediction
/// and the confirmation over time.
pub fn decide(
    reports: &[CheckReport],
    policy: &VerdictPolicy,
    background: &Background,
    now: Timestamp,
) -> Verdict {
    let registration = merge_registration(reports);
    let p_registered = noisy_or(reports.iter().filter_map(registered_weight));
    let registry_absent = reports.iter().any(is_registry_absence);
    let confirmed_over_time = registry_absent
        && background
            .registry_absent_since
            .is_some_and(|since| elapsed(since, now) >= policy.registry_confirm_after);
    let p_free = free_confidence(reports, confirmed_over_time);
    let authoritative_free = reports
        .iter()
        .any(|r| r.kind.layer() > Layer::Fast && r.outcome == CheckOutcome::Available);
    let reserved = reports.iter().find(|r| r.outcome == CheckOutcome::Reserved);
    let deep_ran = reports.iter().any(|r| r.kind.layer() > Layer::Fast);
    let mut confirmed_by = Vec::new();

    let (availability, confidence, reason) = if let Some(phase) = lifecycle_phase(&registration) {
        (
            phase.availability(),
            p_registered.max(0.9),
            format!("registry status {}", phase.as_str()),
        )
    } else if p_registered > 0.0 {
        let mut reason = format!(
            "registered: {}",
            evidence(reports, CheckOutcome::Registered)
        );
        if reports.iter().any(|r| r.outcome == CheckOutcome::Available) {
            reason.push_str(&format!(
                " (outweighs \"not found\" from {})",
                sources(reports, CheckOutcome::Available)
            ));
        }
        (Availability::Registered, p_registered, reason)
    } else if let Standing::Reserved { reason } = &background.standing {
        (Availability::Reserved, 0.9, format!("reserved: {reason}"))
    } else if let Some(report) = reserved {
        (
            Availability::Reserved,
            if report.strength == Strength::Strong {
                0.9
            } else {
                0.7
            },
            format!("reserved: {}", report.detail),
        )
    } else if let Standing::UnroutedPrivate { suffix } = &background.standing {
        (
            Availability::Unknown,
            0.0,
            format!(
                "under {suffix}, a privately run registry (Public Suffix List, PRIVATE section): \
                 the TLD's registry never holds its names, so its answers cannot show the name free; \
                 set RDAP_OVERRIDES or WHOIS_OVERRIDES for {suffix} to ask its registry"
            ),
        )
    } else if authoritative_free {
        let mut reason = format!("not found: {}", evidence(reports, CheckOutcome::Available));
        if confirmed_over_time && let Some(since) = background.registry_absent_since {
            reason.push_str(&format!(
                "; the registry's RDAP said so since {since}, confirmed {} later",
                humantime::format_duration(round_secs(elapsed(since, now)))
            ));
        }
        let available = round3(p_free) >= policy.confidence_threshold;
        if available {
            confirmed_by = confirmers(reports);
            (Availability::Available, p_free, reason)
        } else {
            if registry_absent && !confirmed_over_time {
                reason.push_str(&format!(
                    "; awaiting the registry's confirmation {} after its first answer",
                    humantime::format_duration(policy.registry_confirm_after)
                ));
            }
            reason.push_str(&format!(
                "; confidence {:.3} is below the notification threshold {}",
                round3(p_free),
                policy.confidence_threshold
            ));
            (Availability::Unconfirmed, p_free, reason)
        }
    } else if let Some(confirmed) = background
        .confirmed
        .as_ref()
        .filter(|_| !deep_ran && fast_layer_still_free(reports))
    {
        confirmed_by.clone_from(&confirmed.confirmed_by);
        (
            Availability::Available,
            confirmed.confidence,
            format!(
                "still free: {}; confirmed by the {} at {}",
                evidence(reports, CheckOutcome::Available),
                words(&confirmed.confirmed_by),
                confirmed.at
            ),
        )
    } else if reports
        .iter()
        .all(|r| matches!(r.outcome, CheckOutcome::Error | CheckOutcome::Skipped))
    {
        (
            Availability::Error,
            0.0,
            format!(
                "every check failed: {}",
                evidence(reports, CheckOutcome::Error)
            ),
        )
    } else if p_free > 0.0 {
        (
            Availability::Unknown,
            p_free,
            format!(
                "maybe free ({}), not confirmed by RDAP, a registrar or WHOIS",
                evidence(reports, CheckOutcome::Available)
            ),
        )
    } else {
        (
            Availability::Unknown,
            0.0,
            "no conclusive answer (rate-limited or inconclusive checks)".to_owned(),
        )
    };
    let confidence = round3(confidence);
    let predicted_drop_at = predict_drop(&registration, policy, now);
    Verdict {
        notify: availability == Availability::Available,
        availability,
        confidence,
        registration,
        predicted_drop_at,
        reason,
        confirmed_by,
        registry_absent,
    }
}

/// True for the registry's own "not in the registry database": a strong RDAP
/// "not found" (an RFC 9083 error object from the registry's server).
pub fn is_registry_absence(report: &CheckReport) -> bool {
    report.kind == CheckKind::Rdap
        && report.outcome == CheckOutcome::Available
        && report.strength == Strength::Strong
}

/// The noisy-OR of "not found" over source kinds, each kind at its best
/// report and at most [`MAX_FREE_WEIGHT_PER_KIND`].
fn free_confidence(reports: &[CheckReport], confirmed_over_time: bool) -> f64 {
    let mut best: BTreeMap<CheckKind, f64> = BTreeMap::new();
    for report in reports {
        let Some(mut weight) = free_weight(report) else {
            continue;
        };
        if report.kind == CheckKind::Dns
            && report.strength == Strength::Strong
            && (report.servers_agreeing >= 2 || confirmed_over_time)
        {
            weight = 0.58;
        }
        if confirmed_over_time && is_registry_absence(report) {
            weight = 0.78;
        }
        let entry = best.entry(report.kind).or_insert(0.0);
        *entry = entry.max(weight.min(MAX_FREE_WEIGHT_PER_KIND));
    }
    noisy_or(best.into_values())
}

fn confirmers(reports: &[CheckReport]) -> Vec<ConfirmedBy> {
    let mut by: Vec<ConfirmedBy> = reports
        .iter()
        .filter(|r| r.outcome == CheckOutcome::Available)
        .filter_map(|r| match r.kind {
            CheckKind::Rdap | CheckKind::Whois => Some(ConfirmedBy::Registry),
            CheckKind::Registrar => Some(ConfirmedBy::Registrar),
            CheckKind::Dns | CheckKind::Http => None,
        })
        .collect();
    by.sort();
    by.dedup();
    by
}

fn words(by: &[ConfirmedBy]) -> String {
    let words: Vec<&str> = by.iter().map(|b| b.as_str()).collect();
    words.join(" and ")
}

/// How much one report proves registration, if it does.
pub fn registered_weight(report: &CheckReport) -> Option<f64> {
    if report.outcome != CheckOutcome::Registered {
        return None;
    }
    let strong = report.strength == Strength::Strong;
    Some(match report.kind {
        CheckKind::Rdap => {
            if strong {
                0.97
            } else {
                0.8
            }
        }
        CheckKind::Whois => {
            if strong {
                0.95
            } else {
                0.7
            }
        }
        CheckKind::Dns => {
            if strong {
                0.9
            } else {
                0.6
            }
        }
        CheckKind::Registrar => {
            if strong {
                0.9
            } else {
                0.7
            }
        }
        CheckKind::Http => {
            if strong {
                0.7
            } else {
                0.5
            }
        }
    })
}

/// How much one report proves the name is free, if it does (one round, one
/// server; see the module documentation for confirmations).
pub fn free_weight(report: &CheckReport) -> Option<f64> {
    if report.outcome != CheckOutcome::Available {
        return None;
    }
    let strong = report.strength == Strength::Strong;
    Some(match report.kind {
        CheckKind::Registrar => {
            if strong {
                0.85
            } else {
                0.6
            }
        }
        CheckKind::Whois => {
            if strong {
                0.85
            } else {
                0.3
            }
        }
        CheckKind::Rdap => {
            if strong {
                0.75
            } else {
                0.35
            }
        }
        CheckKind::Dns => {
            if strong {
                0.5
            } else {
                0.3
            }
        }
        // "No web server" follows from the name not resolving: DNS again,
        // not a second source.
        CheckKind::Http => return None,
    })
}

fn noisy_or(weights: impl Iterator<Item = f64>) -> f64 {
    let mut miss = 1.0;
    let mut any = false;
    for w in weights {
        any = true;
        miss *= 1.0 - w.clamp(0.0, 1.0);
    }
    if any { 1.0 - miss } else { 0.0 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    to.duration_since(from).try_into().unwrap_or_default()
}

fn evidence(reports: &[CheckReport], outcome: CheckOutcome) -> String {
    let parts: Vec<String> = reports
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| format!("{} {}", r.kind, r.detail))
        .collect();
    parts.join("; ")
}

fn sources(reports: &[CheckReport], outcome: CheckOutcome) -> String {
    let parts: Vec<&str> = reports
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.kind.as_str())
        .collect();
    parts.join(", ")
}

/// Merges the facts of every report, preferring RDAP, then WHOIS, then the
/// registrar, then DNS for each field.
pub fn merge_registration(reports: &[CheckReport]) -> RegistrationFacts {
    let rank = |kind: CheckKind| match kind {
        CheckKind::Rdap => 0,
        CheckKind::Whois => 1,
        CheckKind::Registrar => 2,
        CheckKind::Dns => 3,
        CheckKind::Http => 4,
    };
    let mut ranked: Vec<&CheckReport> = reports
        .iter()
        .filter(|r| r.registration.is_some())
        .collect();
    ranked.sort_by_key(|r| rank(r.kind));
    let mut merged = RegistrationFacts::default();
    for facts in ranked.iter().filter_map(|r| r.registration.as_ref()) {
        merged.registrar = merged.registrar.or_else(|| facts.registrar.clone());
        merged.created = merged.created.or(facts.created);
        merged.expires = merged.expires.or(facts.expires);
        merged.last_changed = merged.last_changed.or(facts.last_changed);
        merged.deletion = merged.deletion.or(facts.deletion);
        if merged.statuses.is_empty() {
            merged.statuses.clone_from(&facts.statuses);
        }
        if merged.nameservers.is_empty() {
            merged.nameservers.clone_from(&facts.nameservers);
        }
    }
    merged
}

/// A phase of the registry's deletion lifecycle (RFC 3915, gTLD EPP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifecyclePhase {
    /// Expired, still renewable by the registrar (`autoRenewPeriod`).
    AutoRenew,
    /// Deleted, restorable by the registrant (`redemptionPeriod`, `pendingRestore`).
    Redemption,
    /// Past redemption, about to be released (`pendingDelete` alone).
    PendingDelete,
}

impl LifecyclePhase {
    /// The EPP status that names the phase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoRenew => "autoRenewPeriod",
            Self::Redemption => "redemptionPeriod",
            Self::PendingDelete => "pendingDelete",
        }
    }

    fn availability(self) -> Availability {
        match self {
            Self::AutoRenew | Self::Redemption => Availability::Expiring,
            Self::PendingDelete => Availability::PendingDelete,
        }
    }
}

/// The lifecycle phase the statuses put the name in: the earliest phase
/// named wins, because a redemption record carries `pendingDelete` too.
pub fn lifecycle_phase(facts: &RegistrationFacts) -> Option<LifecyclePhase> {
    if facts.has_status("autoRenewPeriod") {
        Some(LifecyclePhase::AutoRenew)
    } else if facts.has_status("redemptionPeriod") || facts.has_status("pendingRestore") {
        Some(LifecyclePhase::Redemption)
    } else if facts.has_status("pendingDelete") {
        Some(LifecyclePhase::PendingDelete)
    } else {
        None
    }
}

/// When the registry should release the name, from its statuses and dates:
/// the published deletion date when there is one; otherwise the time left in
/// the current phase counted from the last status change, or the whole
/// expiry → grace → redemption → pendingDelete chain counted from expiry.
/// Names that have not expired and are in no lifecycle phase get none.
pub fn predict_drop(
    facts: &RegistrationFacts,
    policy: &VerdictPolicy,
    now: Timestamp,
) -> Option<Timestamp> {
    let add = |t: Timestamp, d: Duration| {
        SignedDuration::try_from(d)
            .ok()
            .and_then(|d| t.checked_add(d).ok())
    };
    let from_expiry = |extra: Duration| {
        facts.expires.and_then(|e| {
            add(
                e,
                policy.auto_renew_grace + policy.redemption_period + extra,
            )
        })
    };
    if let Some(deletion) = facts.deletion {
        return Some(deletion);
    }
    match lifecycle_phase(facts) {
        Some(LifecyclePhase::PendingDelete) => facts
            .last_changed
            .and_then(|t| add(t, policy.pending_delete_period))
            .or_else(|| from_expiry(policy.pending_delete_period)),
        Some(LifecyclePhase::Redemption) => facts
            .last_changed
            .and_then(|t| add(t, policy.redemption_period + policy.pending_delete_period))
            .or_else(|| from_expiry(policy.pending_delete_period)),
        Some(LifecyclePhase::AutoRenew) => from_expiry(policy.pending_delete_period),
        None => facts
            .expires
            .filter(|expires| *expires <= now)
            .and_then(|_| from_expiry(policy.pending_delete_period)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kind: CheckKind, outcome: CheckOutcome) -> CheckReport {
        CheckReport::new(kind, outcome, format!("{outcome:?}"), Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn confirmer_words_parse_back_and_are_the_serde_names() {
        crate::words::assert_words(&ConfirmedBy::ALL, ConfirmedBy::as_str);
    }

    #[test]
    fn a_watched_names_drop_is_confirmed_before_an_ordinary_ones() {
        let free = [report(CheckKind::Dns, CheckOutcome::Available)];
        let taken = [report(CheckKind::Dns, CheckOutcome::Registered)];
        let ordinary = Background {
            previously: Availability::Registered,
            ..Background::default()
        };
        let watched = Background {
            urgency: Urgency::Watched,
            ..ordinary.clone()
        };
        assert_eq!(ordinary.urgency_after_fast(&free), Urgency::Confirming);
        assert_eq!(
            watched.urgency_after_fast(&free),
            Urgency::ConfirmingWatched
        );
        // Nothing changed: the name's own urgency.
        assert_eq!(ordinary.urgency_after_fast(&taken), Urgency::Routine);
        assert_eq!(watched.urgency_after_fast(&taken), Urgency::Watched);
        assert!(Urgency::ConfirmingWatched > Urgency::Confirming);
        assert!(Urgency::ConfirmingWatched.is_confirming() && !Urgency::Watched.is_confirming());
    }

    fn weak(mut r: CheckReport) -> CheckReport {
        r.strength = Strength::Weak;
        r
    }

    fn with_statuses(mut r: CheckReport, statuses: &[&str]) -> CheckReport {
        r.registration = Some(RegistrationFacts {
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        });
        r
    }

    fn now() -> Timestamp {
        "2026-11-21T00:00:00Z".parse().unwrap()
    }

    fn verdict(reports: &[CheckReport]) -> Verdict {
        decide(
            reports,
            &VerdictPolicy::default(),
            &Background::default(),
            now(),
        )
    }

    fn verdict_with(reports: &[CheckReport], background: &Background) -> Verdict {
        decide(reports, &VerdictPolicy::default(), background, now())
    }

    fn servers(mut r: CheckReport, n: u8) -> CheckReport {
        r.servers_agreeing = n;
        r
    }

    fn absent_since(seconds_ago: i64) -> Background {
        Background {
            registry_absent_since: Some(now() - SignedDuration::from_secs(seconds_ago)),
            ..Background::default()
        }
    }

    use CheckKind::{Dns, Http, Rdap, Registrar, Whois};
    use CheckOutcome::{Available, Error, Inconclusive, RateLimited, Registered, Reserved};

    #[test]
    fn dns_rdap_and_whois_agreeing_make_an_available_notification() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Whois, Available),
        ]);
        assert_eq!(v.availability, Availability::Available);
        assert!(v.confidence >= 0.95, "{}", v.confidence);
        assert!(v.notify);
    }

    #[test]
    fn dns_and_rdap_alone_stay_below_the_threshold() {
        let v = verdict(&[report(Dns, Available), report(Rdap, Available)]);
        assert_eq!(v.availability, Availability::Unconfirmed);
        assert!(v.confidence < 0.9, "{}", v.confidence);
        assert!(!v.notify, "reserved names look free to DNS and RDAP");
        assert!(v.awaits_registry_confirmation());
        assert!(
            v.reason.contains("awaiting the registry's confirmation"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn dns_alone_never_says_available() {
        // Held, redeeming and undelegated names are absent from DNS too.
        let v = verdict(&[report(Dns, Available), weak(report(Http, Available))]);
        assert_eq!(v.availability, Availability::Unknown);
        assert!(!v.notify);
    }

    #[test]
    fn trap_hold_status_absent_from_dns_is_registered() {
        let v = verdict(&[
            report(Dns, Available),
            with_statuses(report(Rdap, Registered), &["clientHold"]),
        ]);
        assert_eq!(v.availability, Availability::Registered);
        let v = verdict(&[
            report(Dns, Available),
            with_statuses(report(Whois, Registered), &["serverHold"]),
        ]);
        assert_eq!(v.availability, Availability::Registered);
    }

    #[test]
    fn trap_no_nameservers_but_whois_record_is_registered() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Inconclusive),
            report(Whois, Registered),
        ]);
        assert_eq!(v.availability, Availability::Registered);
        assert!(!v.notify);
    }

    #[test]
    fn trap_reserved_and_premium_names_are_reserved() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Whois, Reserved),
        ]);
        assert_eq!(v.availability, Availability::Reserved);
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Registrar, Reserved),
        ]);
        assert_eq!(v.availability, Availability::Reserved);
        assert!(!v.notify);
    }

    #[test]
    fn trap_rdap_false_404_is_outweighed_by_a_delegation() {
        let v = verdict(&[report(Dns, Registered), weak(report(Rdap, Available))]);
        assert_eq!(v.availability, Availability::Registered);
        assert!(v.reason.contains("outweighs"), "{}", v.reason);
    }

    #[test]
    fn trap_throttled_whois_adds_no_weight() {
        let v = verdict(&[
            report(Dns, Available),
            weak(report(Rdap, Available)),
            report(Whois, RateLimited),
        ]);
        assert!(!v.notify, "{v:?}");
        let v = verdict(&[report(Dns, Inconclusive), report(Whois, RateLimited)]);
        assert_eq!(v.availability, Availability::Unknown);
    }

    #[test]
    fn weak_whois_not_found_needs_company() {
        let v = verdict(&[report(Dns, Inconclusive), weak(report(Whois, Available))]);
        assert_eq!(v.availability, Availability::Unconfirmed);
        assert!(!v.notify, "{}", v.confidence);
        assert!(!v.awaits_registry_confirmation());
    }

    #[test]
    fn every_check_failing_is_an_error() {
        let v = verdict(&[
            report(Dns, Error),
            report(Rdap, Error),
            report(Whois, Error),
        ]);
        assert_eq!(v.availability, Availability::Error);
        assert!(!v.is_conclusive());
    }

    #[test]
    fn lifecycle_statuses_map_and_predict_the_drop() {
        let mut rdap = with_statuses(report(Rdap, Registered), &["redemptionPeriod"]);
        let changed: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        rdap.registration.as_mut().unwrap().last_changed = Some(changed);
        let v = verdict(&[report(Dns, Available), rdap]);
        assert_eq!(v.availability, Availability::Expiring);
        // 30 days of redemption + 5 of pendingDelete after the status change.
        assert_eq!(
            v.predicted_drop_at,
            Some("2026-12-06T00:00:00Z".parse().unwrap())
        );

        let mut rdap = with_statuses(report(Rdap, Registered), &["pendingDelete"]);
        let deletion: Timestamp = "2026-11-25T18:00:00Z".parse().unwrap();
        rdap.registration.as_mut().unwrap().deletion = Some(deletion);
        let v = verdict(&[rdap]);
        assert_eq!(v.availability, Availability::PendingDelete);
        assert_eq!(v.predicted_drop_at, Some(deletion));
    }

    #[test]
    fn expired_names_without_status_get_the_full_chain() {
        let facts = RegistrationFacts {
            expires: Some("2026-10-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        // 45 + 30 + 5 days after expiry.
        assert_eq!(
            predict_drop(&facts, &VerdictPolicy::default(), now()),
            Some("2026-12-20T00:00:00Z".parse().unwrap())
        );
        let future = RegistrationFacts {
            expires: Some("2027-10-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            predict_drop(&future, &VerdictPolicy::default(), now()),
            None
        );
    }

    #[test]
    fn rdap_only_drop_is_confirmed_by_two_dns_servers_and_a_second_rdap_answer() {
        let round = [servers(report(Dns, Available), 2), report(Rdap, Available)];
        // First round: no history yet.
        let first = verdict(&round);
        assert_eq!(first.availability, Availability::Unconfirmed);
        assert!(first.registry_absent);
        // Too soon after the first registry answer.
        let early = verdict_with(&round, &absent_since(10));
        assert_eq!(early.availability, Availability::Unconfirmed, "{early:?}");
        // Confirmed over time.
        let v = verdict_with(&round, &absent_since(30));
        assert_eq!(v.availability, Availability::Available, "{v:?}");
        assert!(v.notify);
        assert!(v.confidence >= 0.9, "{}", v.confidence);
        assert_eq!(v.confirmed_by, [ConfirmedBy::Registry]);
        assert!(v.reason.contains("confirmed 30s later"), "{}", v.reason);
        // A TLD with one server: time confirms its NXDOMAIN too.
        let one = verdict_with(
            &[report(Dns, Available), report(Rdap, Available)],
            &absent_since(30),
        );
        assert_eq!(one.availability, Availability::Available, "{one:?}");
        // Two servers within one round are not enough without time.
        let two = verdict(&[servers(report(Dns, Available), 2), report(Rdap, Available)]);
        assert_eq!(two.availability, Availability::Unconfirmed, "{two:?}");
        // Nor is time without DNS.
        let no_dns = verdict_with(
            &[report(Dns, Inconclusive), report(Rdap, Available)],
            &absent_since(3600),
        );
        assert!(!no_dns.notify, "{no_dns:?}");
    }

    #[test]
    fn weak_rdap_404_is_never_confirmed_over_time() {
        let v = verdict_with(
            &[
                servers(report(Dns, Available), 2),
                weak(report(Rdap, Available)),
            ],
            &absent_since(3600),
        );
        assert!(!v.notify, "{v:?}");
        assert!(!v.registry_absent);
    }

    #[test]
    fn whois_or_a_registrar_confirms_at_once_and_say_who() {
        let v = verdict(&[report(Dns, Available), report(Registrar, Available)]);
        assert!(v.notify, "{v:?}");
        assert_eq!(v.confirmed_by, [ConfirmedBy::Registrar]);
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Whois, Available),
            report(Registrar, Available),
        ]);
        assert_eq!(
            v.confirmed_by,
            [ConfirmedBy::Registry, ConfirmedBy::Registrar]
        );
    }

    #[test]
    fn trap_hold_with_html_404_and_bare_whois_not_found_is_no_promise() {
        // serverHold: NXDOMAIN; RDAP 404 is an HTML page (inconclusive); a
        // throttled WHOIS says a bare NOT FOUND (weak).
        let v = verdict_with(
            &[
                servers(report(Dns, Available), 2),
                report(Rdap, Inconclusive),
                weak(report(Whois, Available)),
            ],
            &absent_since(3600),
        );
        assert!(!v.notify, "{v:?}");
        assert_ne!(v.availability, Availability::Available);
    }

    #[test]
    fn reserved_standing_wins_over_every_not_found_but_not_over_registration() {
        let reserved = Background {
            standing: Standing::Reserved {
                reason: "ICANN RA Specification 5 §3 (nic)".to_owned(),
            },
            ..absent_since(3600)
        };
        let all_free = [
            servers(report(Dns, Available), 2),
            report(Rdap, Available),
            report(Whois, Available),
            report(Registrar, Available),
        ];
        let v = verdict_with(&all_free, &reserved);
        assert_eq!(v.availability, Availability::Reserved);
        assert!(v.reason.contains("Specification 5"), "{}", v.reason);
        assert!(!v.notify);
        let v = verdict_with(&[report(Dns, Registered)], &reserved);
        assert_eq!(v.availability, Availability::Registered);
    }

    #[test]
    fn names_under_an_unrouted_private_suffix_stay_unknown() {
        let private = Background {
            standing: Standing::UnroutedPrivate {
                suffix: "in.net".to_owned(),
            },
            ..absent_since(3600)
        };
        let v = verdict_with(
            &[
                servers(report(Dns, Available), 2),
                report(Rdap, Available),
                report(Whois, Available),
            ],
            &private,
        );
        assert_eq!(v.availability, Availability::Unknown);
        assert!(!v.notify);
        assert!(v.reason.contains("RDAP_OVERRIDES"), "{}", v.reason);
    }

    #[test]
    fn a_confirmed_name_is_kept_by_cheap_rechecks_until_something_changes() {
        let confirmed = Background {
            confirmed: Some(Confirmed {
                at: now(),
                confidence: 0.95,
                confirmed_by: vec![ConfirmedBy::Registry],
            }),
            ..Background::default()
        };
        let v = verdict_with(&[report(Dns, Available)], &confirmed);
        assert_eq!(v.availability, Availability::Available);
        assert_eq!(v.confidence, 0.95);
        assert!(v.reason.starts_with("still free"), "{}", v.reason);
        let v = verdict_with(&[report(Dns, Registered)], &confirmed);
        assert_eq!(v.availability, Availability::Registered);
        let v = verdict_with(&[report(Dns, Inconclusive)], &confirmed);
        assert_ne!(v.availability, Availability::Available);
    }

    #[test]
    fn redemption_records_with_pending_delete_are_in_redemption() {
        let mut rdap = with_statuses(
            report(Rdap, Registered),
            &["pendingDelete", "redemptionPeriod", "serverHold"],
        );
        let changed: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        rdap.registration.as_mut().unwrap().last_changed = Some(changed);
        let v = verdict(&[report(Dns, Available), rdap]);
        assert_eq!(v.availability, Availability::Expiring);
        assert_eq!(v.reason, "registry status redemptionPeriod");
        assert_eq!(
            v.predicted_drop_at,
            Some("2026-12-06T00:00:00Z".parse().unwrap()),
            "30 days of redemption and 5 of pendingDelete"
        );
    }

    proptest::proptest! {
        /// No combination of "not found" evidence from one kind of source
        /// reaches the notification threshold, whatever the history says.
        #[test]
        fn one_kind_of_source_never_notifies(
            kind in proptest::sample::select(vec![Dns, Http, Rdap, Registrar, Whois]),
            shapes in proptest::collection::vec((proptest::bool::ANY, 1u8..4), 1..6),
            since in proptest::option::of(0i64..100_000),
        ) {
            let reports: Vec<CheckReport> = shapes
                .iter()
                .map(|(strong, agreeing)| {
                    let r = servers(report(kind, Available), *agreeing);
                    if *strong { r } else { weak(r) }
                })
                .collect();
            let background = since.map_or_else(Background::default, absent_since);
            let v = verdict_with(&reports, &background);
            proptest::prop_assert!(!v.notify, "{:?}", v);
            proptest::prop_assert!(v.confidence < 0.9, "{:?}", v);
        }
    }

    fn next(reports: &[CheckReport]) -> Option<Layer> {
        let done: Vec<Layer> = reports.iter().map(|r| r.kind.layer()).collect();
        next_layer(&done, reports)
    }

    #[test]
    fn a_layer_without_checkers_is_passed_over() {
        let reports = [report(Dns, Available)];
        assert_eq!(
            next_layer(&[Layer::Fast, Layer::Reliable], &reports),
            Some(Layer::Deep)
        );
    }

    #[test]
    fn escalation_stops_at_proof_and_confirms_maybe_free() {
        assert_eq!(next(&[]), Some(Layer::Fast));
        assert_eq!(next(&[report(Dns, Registered)]), None);
        assert_eq!(
            next(&[report(Dns, Available), report(Http, Inconclusive)]),
            Some(Layer::Reliable)
        );
        // A web answer contradicted by NXDOMAIN is confirmed, not trusted.
        assert_eq!(
            next(&[report(Dns, Available), weak(report(Http, Registered))]),
            Some(Layer::Reliable)
        );
        let maybe_free = [report(Dns, Available), report(Rdap, Available)];
        assert_eq!(next(&maybe_free), Some(Layer::Deep));
        // A failing layer falls back to the next.
        assert_eq!(
            next(&[report(Dns, Error), report(Rdap, Error)]),
            Some(Layer::Deep)
        );
        assert_eq!(
            next(&[report(Dns, Available), report(Rdap, Registered)]),
            None
        );
        assert_eq!(
            next(&[
                report(Dns, Available),
                report(Rdap, Available),
                report(Whois, Available)
            ]),
            None
        );
    }
}
