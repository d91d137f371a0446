//! `domain-monitor check example.com …`: the layered checks run locally, one
//! verdict per domain, as a table or JSON.
//!
//! With `--health`, each registered domain also gets the health report the
//! operator writes to `status.health` and its conditions: the same
//! [`health::evaluate`] on the facts one check gathers (the registry's
//! answer, the delegation probe, the DNSSEC probe over the servers the
//! delegation probe found), without a previous status, so there are no
//! change events. It runs in [`health::Mode::OneOff`]: a check without data
//! says what this run found (the registry's answer, the probe's error),
//! since no later check will fill it in.

use std::{fmt::Write as _, time::Duration};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

use crate::{
    config::{CheckArgs, OutputFormat},
    domain_name::DomainName,
    health::{
        self, HealthFacts, Mode, RunFindings,
        delegation::{ProbeSettings, Prober},
    },
    layered::{Depth, Evaluation, LayeredChecker},
    resource::{Availability, DnssecPolicy, HealthSpec, health::HealthStatus},
    verdict::{self, Background},
};

/// What `check --health` asks besides the verdict.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// The health settings applied to every domain, as `spec.health`.
    pub spec: HealthSpec,
    /// Probes the delegation; `None` without a DNS checker.
    pub prober: Option<Prober>,
    /// Probes DNSSEC (unless `spec.dnssec` is `Ignore`); `None` without a
    /// DNS checker.
    pub dnssec_prober: Option<std::sync::Arc<health::dnssec::Prober>>,
    /// How long the whole probe may take.
    pub probe_timeout: Duration,
}

impl HealthCheck {
    /// What `check --health` asks, from its flags: `--expected-nameserver`,
    /// `--expiry-warning` and `--dnssec` as `spec.health`, and probers
    /// sharing `checker`'s DNS sockets with the checks' DNS timeout and
    /// name-server port.
    pub fn from_args(args: &CheckArgs, checker: &LayeredChecker) -> Self {
        let probe = ProbeSettings {
            timeout: args.checks.dns_timeout,
            nameserver_port: args.checks.nameserver_port,
        };
        Self {
            spec: HealthSpec {
                expected_nameservers: args.expected_nameservers.clone(),
                expiry_warning: args.expiry_warning.clone(),
                dnssec: args.dnssec,
                ..Default::default()
            },
            prober: checker
                .delegation_prober(probe)
                .map(|prober| prober.naming_expected("--expected-nameserver")),
            dnssec_prober: checker
                .dnssec_prober(args.checks.trust_anchors(), probe)
                .map(std::sync::Arc::new),
            probe_timeout: probe.probe_timeout(),
        }
    }
}

/// The health report of one domain: what the operator would write.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthLine {
    /// `status.health`.
    pub status: HealthStatus,
    /// The health conditions (`Healthy`, `RegistryLocked`, `ExpiringSoon`,
    /// `DelegationDrift`, `DNSSECValid`), with reasons and messages.
    pub conditions: Vec<Condition>,
    /// Why the delegation could not be probed, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation_error: Option<String>,
    /// Why DNSSEC could not be probed, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnssec_error: Option<String>,
}

impl HealthLine {
    /// Whether `Healthy` is `True` and every probe asked for ran: a
    /// one-off check has no later check to fill in what a failed probe
    /// left unknown (e.g. `--dnssec required` with the chain unreachable).
    pub fn is_healthy(&self) -> bool {
        self.delegation_error.is_none()
            && self.dnssec_error.is_none()
            && self
                .conditions
                .iter()
                .any(|c| c.type_ == health::HEALTHY && c.status == "True")
    }
}

/// The outcome for one name given on the command line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct CheckLine {
    /// The name as typed.
    pub input: String,
    /// The normalised name, when valid.
    pub domain: Option<String>,
    /// The verdict.
    pub availability: Availability,
    /// Its confidence.
    pub confidence: f64,
    /// Whether the operator would send an availability notification.
    pub notify: bool,
    /// Why.
    pub reason: String,
    /// The full evaluation (absent for invalid names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// The health report (with `--health`, for valid names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthLine>,
}

impl CheckLine {
    /// Whether this line settles the question (an `Unconfirmed` reading
    /// does not: it is below the notification threshold).
    pub fn is_settled(&self) -> bool {
        self.evaluation.as_ref().is_some_and(|e| {
            e.verdict.is_conclusive() && e.verdict.availability != Availability::Unconfirmed
        })
    }
}

/// Whether the run succeeded: every verdict conclusive and, with
/// `--health`, every domain `Healthy` with every probe it asked for run.
pub fn all_settled(lines: &[CheckLine]) -> bool {
    lines
        .iter()
        .all(|l| l.is_settled() && l.health.as_ref().is_none_or(HealthLine::is_healthy))
}

/// Checks every input (concurrently) and returns one line per input, in
/// order; with `health`, each valid name gets its health report too.
pub async fn check_all(
    checker: &LayeredChecker,
    inputs: &[String],
    health: Option<&HealthCheck>,
) -> Vec<CheckLine> {
    join_all(inputs.iter().map(|input| async move {
        let mut line = check_one(checker, input).await;
        if let (Some(health), Some(evaluation)) = (health, &line.evaluation)
            && let Ok(domain) = DomainName::parse(input)
        {
            line.health = Some(health_report(health, &domain, evaluation).await);
        }
        line
    }))
    .await
}

/// The health report of `domain` from one check's `evaluation`, its
/// delegation probed now.
pub async fn health_report(
    check: &HealthCheck,
    domain: &DomainName,
    evaluation: &Evaluation,
) -> HealthLine {
    let mut facts = HealthFacts {
        availability: Some(evaluation.verdict.availability),
        ..HealthFacts::from_reports(&evaluation.reports)
    };
    let mut delegation_error = None;
    let mut dnssec_error = None;
    let too_long = || {
        format!(
            "the probe took longer than {}",
            humantime::format_duration(check.probe_timeout)
        )
    };
    match &check.prober {
        Some(prober) => {
            let registry = facts
                .registry
                .as_ref()
                .map(|r| r.nameservers.clone())
                .unwrap_or_default();
            let probe = prober.probe(domain, &registry, &check.spec.expected_nameservers);
            match tokio::time::timeout(check.probe_timeout, probe).await {
                Ok(Ok(report)) => {
                    if check.spec.dnssec != DnssecPolicy::Ignore
                        && let Some(dnssec) = &check.dnssec_prober
                    {
                        let probe = dnssec.probe(domain, &report.child);
                        match tokio::time::timeout(check.probe_timeout, probe).await {
                            Ok(Ok(view)) => facts.dnssec = Some(view),
                            Ok(Err(err)) => dnssec_error = Some(err.to_string()),
                            Err(_) => dnssec_error = Some(too_long()),
                        }
                    }
                    facts.delegation = Some(health::delegation::view(report));
                }
                Ok(Err(err)) => delegation_error = Some(err.to_string()),
                Err(_) => delegation_error = Some(too_long()),
            }
        }
        None => delegation_error = Some("no DNS checker is configured".to_owned()),
    }
    if delegation_error.is_some() && check.spec.dnssec != DnssecPolicy::Ignore {
        // DNSSEC asks the delegation's servers: it could not run either.
        dnssec_error =
            Some("the delegation, whose servers it asks, could not be probed".to_owned());
    }
    facts.mode = Mode::OneOff(RunFindings {
        registry: health::registry_finding(&evaluation.reports),
        delegation: delegation_error
            .clone()
            .unwrap_or_else(|| "no answer".to_owned()),
        dnssec: dnssec_error
            .clone()
            .unwrap_or_else(|| "no DNSSEC prober is configured".to_owned()),
    });
    let report = health::evaluate(Some(&check.spec), &facts, None, None, Timestamp::now());
    let state = report.state.unwrap_or_default();
    HealthLine {
        status: state.status,
        conditions: state.conditions,
        delegation_error,
        dnssec_error,
    }
}

async fn check_one(checker: &LayeredChecker, input: &str) -> CheckLine {
    match DomainName::parse(input) {
        Err(err) => CheckLine {
            input: input.to_owned(),
            domain: None,
            availability: Availability::Invalid,
            confidence: 1.0,
            notify: false,
            reason: err.to_string(),
            evaluation: None,
            health: None,
        },
        Ok(domain) => {
            let mut evaluation = checker
                .evaluate(&domain, Depth::RegistrationFacts, Background::default())
                .await;
            if evaluation.verdict.awaits_registry_confirmation() {
                // The registry's RDAP said "not found" once: ask again after
                // the confirmation delay, as the operator would.
                let wait = checker.policy().registry_confirm_after;
                let since = evaluation
                    .reports
                    .iter()
                    .find(|r| verdict::is_registry_absence(r))
                    .map_or(evaluation.finished_at, |r| r.checked_at);
                tracing::info!(
                    %domain,
                    wait = %humantime::format_duration(wait),
                    "the registry says not found; asking again to confirm"
                );
                tokio::time::sleep(wait).await;
                let background = Background {
                    registry_absent_since: Some(since),
                    ..Background::default()
                };
                evaluation = checker.evaluate(&domain, Depth::Escalate, background).await;
            }
            CheckLine {
                input: input.to_owned(),
                domain: Some(domain.to_string()),
                availability: evaluation.verdict.availability,
                confidence: evaluation.verdict.confidence,
                notify: evaluation.verdict.notify,
                reason: evaluation.verdict.reason.clone(),
                evaluation: Some(evaluation),
                health: None,
            }
        }
    }
}

/// Renders the lines in the requested format.
pub fn render(lines: &[CheckLine], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            let mut json = serde_json::to_string_pretty(lines)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"));
            json.push('\n');
            json
        }
        OutputFormat::Table => {
            let mut out = render_table(lines);
            for line in lines {
                if let Some(health) = &line.health {
                    let name = line.domain.as_deref().unwrap_or(&line.input);
                    out.push('\n');
                    out.push_str(&render_health(name, health));
                }
            }
            out
        }
    }
}

/// The health report of `domain` for humans: the conditions (status,
/// reason, message), then the views they were drawn from.
pub fn render_health(domain: &str, health: &HealthLine) -> String {
    let mut out = format!("HEALTH OF {domain}\n");
    let width = health
        .conditions
        .iter()
        .map(|c| c.type_.len())
        .max()
        .unwrap_or(0);
    for c in &health.conditions {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<7}  {}: {}",
            c.type_, c.status, c.reason, c.message
        );
    }
    let status = &health.status;
    if let Some(r) = &status.registration {
        let _ = writeln!(
            out,
            "  registration: registrar {}, expires {}, statuses {}, name servers {}",
            r.registrar.as_deref().unwrap_or("unknown"),
            r.expires_at.as_ref().map_or_else(
                || "unknown".to_owned(),
                |t| t.0.strftime("%Y-%m-%d").to_string()
            ),
            words(&r.statuses),
            words(&r.nameservers)
        );
    }
    if let Some(lock) = &status.lock {
        let registry = if lock.locked {
            "set".to_owned()
        } else {
            format!("missing {}", lock.missing.join(", "))
        };
        let _ = writeln!(
            out,
            "  lock: registry lock {registry}; registrar's lock {}",
            words(&lock.client)
        );
    }
    if let Some(d) = &status.delegation {
        let _ = writeln!(out, "  delegation at the parent: {}", words(&d.parent));
        let _ = writeln!(out, "  delegation at the registry: {}", words(&d.registry));
        for child in &d.child {
            let answer = match (child.answered, child.authoritative) {
                (false, _) => "no answer".to_owned(),
                (true, false) => "answered without authority".to_owned(),
                (true, true) => format!("serves {}", words(&child.nameservers)),
            };
            let _ = writeln!(out, "  delegation at {}: {answer}", child.server);
        }
        for drift in &d.drift {
            let _ = writeln!(out, "  drift: {drift}");
        }
        if !d.lame.is_empty() {
            let _ = writeln!(out, "  lame: {}", d.lame.join(", "));
        }
    }
    if let Some(why) = &health.delegation_error {
        let _ = writeln!(out, "  delegation not probed: {why}");
    }
    if let Some(dnssec) = &status.dnssec {
        let _ = writeln!(
            out,
            "  dnssec: valid {}, DS at the parent {}, DNSKEY at the domain {}, matched {}, signatures expire {}{}",
            dnssec.valid,
            dnssec.ds_at_parent,
            dnssec.dnskey_at_child,
            dnssec.matched,
            dnssec.signature_expires_at.as_ref().map_or_else(
                || "unknown".to_owned(),
                |t| t.0.strftime("%Y-%m-%d").to_string()
            ),
            dnssec
                .problem
                .as_ref()
                .map(|p| format!(": {p}"))
                .unwrap_or_default()
        );
    }
    if let Some(why) = &health.dnssec_error {
        let _ = writeln!(out, "  dnssec not probed: {why}");
    }
    out
}

fn words(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn render_table(lines: &[CheckLine]) -> String {
    let rows: Vec<[String; 6]> = lines
        .iter()
        .map(|line| {
            let evaluation = line.evaluation.as_ref();
            let layers = evaluation.map_or_else(
                || "-".to_owned(),
                |e| {
                    e.layers
                        .iter()
                        .map(|l| (*l as u8).to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                },
            );
            let expires = evaluation
                .and_then(|e| e.verdict.registration.expires)
                .map_or_else(|| "-".to_owned(), |t| t.strftime("%Y-%m-%d").to_string());
            [
                line.domain.clone().unwrap_or_else(|| line.input.clone()),
                line.availability.to_string(),
                format!("{:.3}", line.confidence),
                layers,
                expires,
                line.reason.clone(),
            ]
        })
        .collect();
    let header = [
        "DOMAIN",
        "AVAILABILITY",
        "CONFIDENCE",
        "LAYERS",
        "EXPIRES",
        "REASON",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut write_row = |cells: [&str; 6]| {
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
    };
    write_row(header);
    for row in &rows {
        write_row(row.each_ref().map(String::as_str));
    }
    out
}

/// The checks that carried the verdict, e.g. `dns: NXDOMAIN …; rdap: 404 …`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_are_reported_not_checked() {
        let line = CheckLine {
            input: "exa mple.com".to_owned(),
            domain: None,
            availability: Availability::Invalid,
            confidence: 1.0,
            notify: false,
            reason: "white space".to_owned(),
            evaluation: None,
            health: None,
        };
        assert!(!line.is_settled());
        let table = render(&[line], OutputFormat::Table);
        let mut rows = table.lines();
        assert!(rows.next().unwrap().starts_with("DOMAIN"));
        let row = rows.next().unwrap();
        assert!(row.starts_with("exa mple.com"), "{row}");
        assert!(
            row.contains("Invalid") && row.ends_with("white space"),
            "{row}"
        );
    }
}
