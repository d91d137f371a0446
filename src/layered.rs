//! Runs the checkers layer by layer and escalates as [`crate::verdict::next_layer`]
//! says: cheap layers first, the precious deep layers only when needed.
//! Shared by the controller and the `check` command.

use crate::backoff::Backoff;
use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use jiff::Timestamp;
use serde::Serialize;
use tracing::Instrument;

use crate::{
    check::{self, CheckOutcome, CheckReport, Checker, Layer},
    config::CheckerArgs,
    domain_name::DomainName,
    ratelimit::{ServerBudgets, Urgency, with_urgency},
    standing::Standings,
    verdict::{self, Background, Standing, Verdict, VerdictPolicy},
};

/// How far to go for a domain whose fast checks already settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Stop as soon as the evidence settles the question.
    #[default]
    Escalate,
    /// Also ask layer 2 for registration facts (expiry, statuses) when layer 1
    /// already proved registration: the lifecycle prediction needs them.
    RegistrationFacts,
    /// Re-verify a name already confirmed available: the cheap layers only,
    /// unless they no longer see a free name (then escalate as usual). The
    /// deep layers' budgets go to names whose state may have changed.
    Reverify,
}

/// Retries of checks that failed (not of rate-limited or inconclusive ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub attempts: u32,
    /// Base delay before a retry; doubled per retry, with ±50 % jitter.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 2,
            base_delay: Duration::from_millis(200),
        }
    }
}

/// Every report about one domain and the verdict drawn from them.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The domain checked.
    pub domain: DomainName,
    /// The decision.
    pub verdict: Verdict,
    /// The layers that ran, in order.
    pub layers: Vec<Layer>,
    /// Every checker's final report (after retries), in the order run.
    pub reports: Vec<CheckReport>,
    /// When the evaluation finished.
    pub finished_at: Timestamp,
    /// Where the name stood (reserved, private registry, registrable).
    pub standing: Standing,
    /// How urgently the deep layers were asked (the last layer's urgency).
    pub urgency: Urgency,
}

impl Evaluation {
    /// The report of one checker, if it ran.
    pub fn report(&self, kind: check::CheckKind) -> Option<&CheckReport> {
        self.reports.iter().find(|r| r.kind == kind)
    }

    /// What the default policy decides from `reports` about
    /// `drop.example` (registrable, asked routinely), finished at
    /// `finished_at`, with the layers the reports came from: for unit tests
    /// of what reads an evaluation.
    #[cfg(test)]
    pub(crate) fn of_reports(reports: Vec<CheckReport>, finished_at: Timestamp) -> Self {
        let mut layers: Vec<Layer> = reports.iter().map(|r| r.kind.layer()).collect();
        layers.dedup();
        Self {
            domain: DomainName::parse("drop.example").unwrap(),
            verdict: verdict::decide(
                &reports,
                &VerdictPolicy::default(),
                &Background::default(),
                finished_at,
            ),
            layers,
            reports,
            finished_at,
            standing: Standing::Registrable,
            urgency: Urgency::Routine,
        }
    }
}

/// How long the checkers that run last in their layer (the HTTP probe) wait
/// for the others (DNS) before running alongside them. DNS answers from a
/// TLD's servers take tens of milliseconds; a server that does not answer
/// takes `DNS_TIMEOUT`, which the probe's own time must not lengthen.
pub const LAST_IN_LAYER_WAIT: Duration = Duration::from_millis(500);

/// All configured checkers, run in layers.
pub struct LayeredChecker {
    checkers: Vec<Arc<dyn Checker>>,
    policy: VerdictPolicy,
    retry: RetryPolicy,
    budgets: Vec<Arc<ServerBudgets>>,
    standings: Standings,
    /// The dns checker and the http checker's resolver, for the delegation
    /// probe; `None` for pipelines not built from the configuration.
    probe_parts: Option<(
        Arc<check::dns::DnsChecker>,
        Arc<check::dns::stub::StubResolver>,
    )>,
}

impl std::fmt::Debug for LayeredChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<_> = self.checkers.iter().map(|c| c.kind()).collect();
        f.debug_struct("LayeredChecker")
            .field("checkers", &kinds)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Why the checkers could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The DNS checker.
    #[error("DNS checker: {0}")]
    Dns(#[from] check::dns::Error),
    /// The HTTP checker.
    #[error("HTTP checker: {0}")]
    Http(#[from] check::http::Error),
    /// The RDAP checker.
    #[error("RDAP checker: {0}")]
    Rdap(#[from] check::rdap::Error),
    /// The registrar settings.
    #[error("registrar API: {0}")]
    RegistrarSettings(#[from] check::registrar::SettingsError),
    /// The registrar checker.
    #[error("registrar API: {0}")]
    Registrar(#[from] check::registrar::RegistrarError),
    /// A reserved-names list (`RESERVED_NAMES`).
    #[error("{0}")]
    Reserved(#[from] crate::standing::Error),
}

impl LayeredChecker {
    /// Every checker the configuration enables: DNS, HTTP, RDAP and WHOIS
    /// always, the registrar API when a provider is configured.
    pub fn from_args(args: &CheckerArgs) -> Result<Self, BuildError> {
        use crate::check::{dns, http, rdap, registrar, whois};
        let budget = |kind, limit| Arc::new(ServerBudgets::new(kind, limit));
        let budgets = vec![
            budget("dns server", args.dns_rate_limit),
            budget("web host", args.http_rate_limit),
            budget("rdap", args.rdap_rate_limit),
            budget("whois", args.whois_rate_limit),
            budget("registrar API", args.registrar_rate_limit),
        ];
        let dns_checker = Arc::new(dns::DnsChecker::with_budgets(
            dns::Settings::from_args(args),
            Arc::clone(&budgets[0]),
        )?);
        let http_checker = Arc::new(http::HttpChecker::with_budgets(
            http::Settings::from_args(args),
            Arc::clone(&budgets[1]),
        )?);
        let probe_parts = (Arc::clone(&dns_checker), http_checker.resolver());
        let mut checkers: Vec<Arc<dyn Checker>> = vec![
            dns_checker,
            http_checker,
            Arc::new(rdap::RdapChecker::with_budgets(
                rdap::Settings::from_args(args),
                Arc::clone(&budgets[2]),
            )?),
            Arc::new(whois::WhoisChecker::with_budgets(
                whois::Settings::from_args(args),
                Arc::clone(&budgets[3]),
            )),
        ];
        let registrar = registrar::Settings::from_args(args)?;
        if registrar.enabled() {
            checkers.push(Arc::new(registrar::RegistrarChecker::with_budgets(
                registrar,
                Arc::clone(&budgets[4]),
            )?));
        }
        let mut layered = Self::new(checkers, VerdictPolicy::from_args(args))
            .with_standings(Standings::from_args(args)?);
        layered.budgets = budgets;
        layered.probe_parts = Some(probe_parts);
        Ok(layered)
    }

    /// A delegation prober sharing the dns checker's sockets and the http
    /// checker's resolver; `None` when the pipeline was not built by
    /// [`LayeredChecker::from_args`].
    pub fn delegation_prober(
        &self,
        settings: crate::health::delegation::ProbeSettings,
    ) -> Option<crate::health::delegation::Prober> {
        self.probe_parts.as_ref().map(|(dns, resolver)| {
            crate::health::delegation::Prober::new(Arc::clone(dns), Arc::clone(resolver), settings)
        })
    }

    /// A DNSSEC prober sharing the dns checker's sockets and the http
    /// checker's resolver, validating from `anchors`; `None` when the
    /// pipeline was not built by [`LayeredChecker::from_args`].
    pub fn dnssec_prober(
        &self,
        anchors: Arc<hickory_proto::dnssec::TrustAnchors>,
        settings: crate::health::delegation::ProbeSettings,
    ) -> Option<crate::health::dnssec::Prober> {
        self.probe_parts.as_ref().map(|(dns, resolver)| {
            crate::health::dnssec::Prober::new(
                Arc::clone(dns),
                Arc::clone(resolver),
                anchors,
                settings,
            )
        })
    }

    /// Rate-limit waits of every layer since start-up.
    pub fn rate_limit_waits(&self) -> Vec<crate::ratelimit::RateLimitWaits> {
        self.budgets.iter().map(|b| b.waits()).collect()
    }

    /// Spends only `share` (0.0–1.0) of every server's configured budget: a
    /// replica's share of the shards, so all replicas together stay within
    /// one global budget per server.
    pub fn set_budget_share(&self, share: f64) {
        for budgets in &self.budgets {
            budgets.set_share(share);
        }
    }

    /// A pipeline over `checkers` (any order; each runs in its own layer).
    pub fn new(checkers: Vec<Arc<dyn Checker>>, policy: VerdictPolicy) -> Self {
        Self {
            checkers,
            policy,
            retry: RetryPolicy::default(),
            budgets: Vec::new(),
            standings: Standings::default(),
            probe_parts: None,
        }
    }

    /// Replaces the reserved lists and private-suffix routes.
    pub fn with_standings(mut self, standings: Standings) -> Self {
        self.standings = standings;
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The verdict policy in force.
    pub fn policy(&self) -> &VerdictPolicy {
        &self.policy
    }

    /// Checks `domain`, escalating layer by layer, and decides.
    /// `background` carries what the caller remembers of the domain (the
    /// registry's run of "not found" answers, a confirmed reading); its
    /// standing is decided here, from the reserved lists and routes.
    ///
    /// The checkers of a layer run at once, except the HTTP probe
    /// ([`verdict::runs_last_in_layer`]): it waits for DNS (at most
    /// [`LAST_IN_LAYER_WAIT`]), and is reported `skipped` when DNS already
    /// proved registration ([`verdict::needless`]).
    pub async fn evaluate(
        &self,
        domain: &DomainName,
        depth: Depth,
        mut background: Background,
    ) -> Evaluation {
        background.standing = self.standings.of(domain);
        let mut reports: Vec<CheckReport> = Vec::new();
        let mut layers: Vec<Layer> = Vec::new();
        let mut urgency = background.urgency;
        loop {
            let after_fast = layers.contains(&Layer::Fast);
            let stop = match background.standing {
                // The TLD's registry cannot speak for a private registry.
                Standing::UnroutedPrivate { .. } => after_fast,
                // A reserved name may still be registered (and in its
                // lifecycle): RDAP says so; WHOIS is not spent on it.
                Standing::Reserved { .. } => layers.contains(&Layer::Reliable),
                // A confirmed name that still looks free needs no deep layer.
                Standing::Registrable => {
                    after_fast
                        && depth == Depth::Reverify
                        && verdict::fast_layer_still_free(&reports)
                }
            };
            if stop {
                break;
            }
            let next = verdict::next_layer(&layers, &reports).or_else(|| {
                (depth == Depth::RegistrationFacts && !layers.contains(&Layer::Reliable))
                    .then_some(Layer::Reliable)
            });
            let Some(layer) = next else { break };
            layers.push(layer);
            if layer != Layer::Fast {
                urgency = background.urgency_after_fast(&reports);
            }
            self.run_layer(layer, domain, urgency, &mut reports).await;
        }
        let finished_at = Timestamp::now();
        Evaluation {
            domain: domain.clone(),
            verdict: verdict::decide(&reports, &self.policy, &background, finished_at),
            layers,
            reports,
            finished_at,
            standing: background.standing,
            urgency,
        }
    }

    /// Runs `layer`'s checkers on `domain` at `urgency`, adding their reports.
    ///
    /// The checkers that run last in their layer
    /// ([`verdict::runs_last_in_layer`]: the HTTP probe) wait for the others
    /// for at most [`LAST_IN_LAYER_WAIT`], then run alongside, so a slow DNS
    /// answer never has the probe's time added to it. Either way, when
    /// [`verdict::needless`] finds the others' evidence settles it, their
    /// record is `skipped` (and, if they waited, they never ran).
    async fn run_layer(
        &self,
        layer: Layer,
        domain: &DomainName,
        urgency: Urgency,
        reports: &mut Vec<CheckReport>,
    ) {
        let run = |checkers| self.run_all(checkers, domain, urgency);
        let (last, first): (Vec<_>, Vec<_>) = self
            .checkers
            .iter()
            .filter(|c| c.kind().layer() == layer)
            .partition(|c| verdict::runs_last_in_layer(c.kind()));
        let mut first = std::pin::pin!(run(first));
        if last.is_empty() {
            reports.extend(first.await);
            return;
        }
        let mut ran = tokio::select! {
            biased;
            done = &mut first => {
                reports.extend(done);
                let wanted = last
                    .iter()
                    .copied()
                    .filter(|c| verdict::needless(c.kind(), reports).is_none())
                    .collect();
                run(wanted).await
            }
            () = tokio::time::sleep(LAST_IN_LAYER_WAIT) => {
                let (done, ran) = futures::future::join(first, run(last.clone())).await;
                reports.extend(done);
                ran
            }
        };
        // The record follows from the evidence, not from timing: a probe
        // that ran beside a slow DNS answer which then proved registration
        // is reported skipped, as on every other check (else the status
        // would change with DNS latency).
        for checker in last {
            let kind = checker.kind();
            let report = match verdict::needless(kind, reports) {
                Some(reason) => CheckReport::skipped(kind, reason),
                None => match ran.iter().position(|r| r.kind == kind) {
                    Some(i) => ran.swap_remove(i),
                    None => continue,
                },
            };
            reports.push(report);
        }
    }

    /// Runs `checkers` on `domain` at once, at `urgency`.
    async fn run_all(
        &self,
        checkers: Vec<&Arc<dyn Checker>>,
        domain: &DomainName,
        urgency: Urgency,
    ) -> Vec<CheckReport> {
        let runs = checkers
            .into_iter()
            .map(|checker| self.check_with_retry(checker.as_ref(), domain));
        with_urgency(urgency, join_all(runs)).await
    }

    async fn check_with_retry(&self, checker: &dyn Checker, domain: &DomainName) -> CheckReport {
        let mut attempt = 1;
        loop {
            let span = tracing::info_span!(
                "check",
                checker = %checker.kind(),
                %domain,
                attempt,
                result = tracing::field::Empty,
            );
            let report = checker.check(domain).instrument(span.clone()).await;
            span.record("result", report.outcome.as_str());
            if report.outcome != CheckOutcome::Error || attempt >= self.retry.attempts {
                return report;
            }
            tracing::debug!(%domain, checker = %checker.kind(), attempt, error = ?report.error, "check failed, retrying");
            tokio::time::sleep(jittered(self.retry.base_delay, attempt)).await;
            attempt += 1;
        }
    }
}

/// `base × 2^(attempt−1)` (at most 256 × base), ±50 %.
fn jittered(base: Duration, attempt: u32) -> Duration {
    Backoff::new(base, base.saturating_mul(256))
        .with_jitter(0.5)
        .delay(attempt)
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use futures::future::BoxFuture;

    use super::*;
    use crate::{
        check::{CheckKind, Strength},
        resource::Availability,
    };

    /// Answers from a script and counts calls: a pure stand-in for a server.
    struct Scripted {
        kind: CheckKind,
        outcomes: Mutex<Vec<CheckOutcome>>,
        calls: AtomicU32,
        /// How long each answer takes.
        delay: Duration,
        /// When the last call started and ended.
        started: Mutex<Option<std::time::Instant>>,
        ended: Mutex<Option<std::time::Instant>>,
    }

    impl Scripted {
        fn new(kind: CheckKind, outcomes: &[CheckOutcome]) -> Arc<Self> {
            Self::slow(kind, outcomes, Duration::ZERO)
        }

        fn slow(kind: CheckKind, outcomes: &[CheckOutcome], delay: Duration) -> Arc<Self> {
            let mut outcomes = outcomes.to_vec();
            outcomes.reverse();
            Arc::new(Self {
                kind,
                outcomes: Mutex::new(outcomes),
                calls: AtomicU32::new(0),
                delay,
                started: Mutex::new(None),
                ended: Mutex::new(None),
            })
        }
    }

    impl Checker for Scripted {
        fn kind(&self) -> CheckKind {
            self.kind
        }

        fn check<'a>(&'a self, _domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut outcomes = self.outcomes.lock().unwrap();
            let outcome = if outcomes.len() > 1 {
                outcomes.pop().unwrap()
            } else {
                outcomes[0]
            };
            *self.started.lock().unwrap() = Some(std::time::Instant::now());
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                *self.ended.lock().unwrap() = Some(std::time::Instant::now());
                CheckReport::new(self.kind, outcome, "scripted", Timestamp::now())
                    .with_strength(Strength::Strong)
            })
        }
    }

    fn pipeline(checkers: &[Arc<Scripted>]) -> LayeredChecker {
        let dyns = checkers
            .iter()
            .map(|c| Arc::clone(c) as Arc<dyn Checker>)
            .collect();
        LayeredChecker::new(dyns, VerdictPolicy::default()).with_retry(RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(1),
        })
    }

    fn domain() -> DomainName {
        DomainName::parse("drop.example").unwrap()
    }

    use CheckOutcome::{Available, Error, Registered};

    #[tokio::test]
    async fn registered_by_dns_never_touches_the_deep_layers() {
        let dns = Scripted::new(CheckKind::Dns, &[Registered]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Available]);
        let whois = Scripted::new(CheckKind::Whois, &[Available]);
        let eval = pipeline(&[dns, rdap.clone(), whois.clone()])
            .evaluate(&domain(), Depth::Escalate, Background::default())
            .await;
        assert_eq!(eval.verdict.availability, Availability::Registered);
        assert_eq!(eval.layers, [Layer::Fast]);
        assert_eq!(rdap.calls.load(Ordering::SeqCst), 0);
        assert_eq!(whois.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_web_is_probed_only_when_dns_leaves_registration_open() {
        // A delegation settles it; no delegation, or no answer from DNS,
        // leaves it to the web.
        for (dns_says, probes) in [(Registered, 0), (Available, 1), (Error, 1)] {
            let dns = Scripted::new(CheckKind::Dns, &[dns_says]);
            let http = Scripted::new(CheckKind::Http, &[Registered]);
            let eval = pipeline(&[http.clone(), dns])
                .evaluate(&domain(), Depth::Escalate, Background::default())
                .await;
            let said = format!("after DNS said {dns_says:?}");
            assert_eq!(http.calls.load(Ordering::SeqCst), probes, "{said}");
            let web = eval.report(CheckKind::Http).expect("an http record");
            if probes == 0 {
                assert_eq!(web.outcome, CheckOutcome::Skipped);
                assert!(web.detail.contains("delegation"), "{}", web.detail);
                assert_eq!(eval.verdict.availability, Availability::Registered);
                assert_eq!(
                    eval.verdict.confidence, 0.9,
                    "DNS alone, as on every re-check"
                );
            } else {
                assert_eq!(web.outcome, Registered, "{said}");
            }
        }
    }

    #[tokio::test]
    async fn a_slow_dns_answer_does_not_hold_the_web_probe_back() {
        let slow = LAST_IN_LAYER_WAIT * 3;
        // The probe starts before DNS answers; what is recorded depends on
        // the answer only, as when DNS is fast.
        for (dns_says, web_record) in [(Available, Registered), (Registered, CheckOutcome::Skipped)]
        {
            let dns = Scripted::slow(CheckKind::Dns, &[dns_says], slow);
            let http = Scripted::new(CheckKind::Http, &[Registered]);
            let eval = pipeline(&[dns.clone(), http.clone()])
                .evaluate(&domain(), Depth::Escalate, Background::default())
                .await;
            let http_started = http.started.lock().unwrap().expect("the probe ran");
            let dns_ended = dns.ended.lock().unwrap().expect("DNS answered");
            assert!(http_started < dns_ended, "the probe ran alongside DNS");
            assert_eq!(
                eval.report(CheckKind::Http).unwrap().outcome,
                web_record,
                "after DNS said {dns_says:?}"
            );
            assert_eq!(eval.verdict.availability, Availability::Registered);
        }
    }

    #[tokio::test]
    async fn a_reserved_name_is_asked_at_rdap_but_never_at_whois() {
        let dns = Scripted::new(CheckKind::Dns, &[Available]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Available]);
        let whois = Scripted::new(CheckKind::Whois, &[Available]);
        let reserved = crate::standing::ReservedNames::builtin();
        let eval = pipeline(&[dns, rdap.clone(), whois.clone()])
            .with_standings(crate::standing::Standings::new(reserved, []))
            .evaluate(
                &DomainName::parse("nic.xyz").unwrap(),
                Depth::Escalate,
                Background::default(),
            )
            .await;
        assert_eq!(eval.verdict.availability, Availability::Reserved);
        assert_eq!(
            rdap.calls.load(Ordering::SeqCst),
            1,
            "RDAP may show a registration"
        );
        assert_eq!(
            whois.calls.load(Ordering::SeqCst),
            0,
            "WHOIS is not spent on it"
        );
    }

    #[tokio::test]
    async fn a_confirmed_name_that_still_looks_free_is_rechecked_by_dns_alone() {
        let dns = Scripted::new(CheckKind::Dns, &[Available]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Available]);
        let confirmed = Background {
            confirmed: Some(crate::verdict::Confirmed {
                at: Timestamp::now(),
                confidence: 0.95,
                confirmed_by: vec![crate::verdict::ConfirmedBy::Registry],
            }),
            ..Background::default()
        };
        let eval = pipeline(&[dns, rdap.clone()])
            .evaluate(&domain(), Depth::Reverify, confirmed.clone())
            .await;
        assert_eq!(eval.layers, [Layer::Fast]);
        assert_eq!(rdap.calls.load(Ordering::SeqCst), 0);
        assert_eq!(eval.verdict.availability, Availability::Available);
        // A delegation seen again ends it at once.
        let dns = Scripted::new(CheckKind::Dns, &[Registered]);
        let eval = pipeline(&[dns])
            .evaluate(&domain(), Depth::Reverify, confirmed)
            .await;
        assert_eq!(eval.verdict.availability, Availability::Registered);
    }

    #[tokio::test]
    async fn registration_facts_depth_asks_layer_two_but_not_three() {
        let dns = Scripted::new(CheckKind::Dns, &[Registered]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Registered]);
        let whois = Scripted::new(CheckKind::Whois, &[Registered]);
        let eval = pipeline(&[dns, rdap.clone(), whois.clone()])
            .evaluate(&domain(), Depth::RegistrationFacts, Background::default())
            .await;
        assert_eq!(eval.layers, [Layer::Fast, Layer::Reliable]);
        assert_eq!(rdap.calls.load(Ordering::SeqCst), 1);
        assert_eq!(whois.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn maybe_free_is_confirmed_by_every_layer_before_notifying() {
        let dns = Scripted::new(CheckKind::Dns, &[Available]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Available]);
        let whois = Scripted::new(CheckKind::Whois, &[Available]);
        let eval = pipeline(&[dns, rdap, whois.clone()])
            .evaluate(&domain(), Depth::Escalate, Background::default())
            .await;
        assert_eq!(eval.layers, [Layer::Fast, Layer::Reliable, Layer::Deep]);
        assert_eq!(whois.calls.load(Ordering::SeqCst), 1);
        assert_eq!(eval.verdict.availability, Availability::Available);
        assert!(eval.verdict.notify);
    }

    #[tokio::test]
    async fn failed_checks_are_retried_once_and_a_failing_layer_falls_through() {
        let dns = Scripted::new(CheckKind::Dns, &[Available]);
        let rdap = Scripted::new(CheckKind::Rdap, &[Error, Error]);
        let whois = Scripted::new(CheckKind::Whois, &[Error, Registered]);
        let eval = pipeline(&[dns, rdap.clone(), whois.clone()])
            .evaluate(&domain(), Depth::Escalate, Background::default())
            .await;
        assert_eq!(rdap.calls.load(Ordering::SeqCst), 2, "one retry");
        assert_eq!(whois.calls.load(Ordering::SeqCst), 2);
        assert_eq!(eval.report(CheckKind::Whois).unwrap().outcome, Registered);
        assert_eq!(eval.verdict.availability, Availability::Registered);
    }
}
