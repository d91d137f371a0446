//! `domain-monitor check example.com …`: the layered checks run locally, one
//! verdict per domain, as a table or JSON.

use std::fmt::Write as _;

use futures::future::join_all;
use serde::Serialize;

use crate::{
    check::layered::{Depth, Evaluation, LayeredChecker},
    config::OutputFormat,
    domain_name::DomainName,
    resource::Availability,
    verdict::{self, Background},
};

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
}

impl CheckLine {
    /// Whether this line settles the question (an `Unconfirmed` reading
    /// does not: it is below the notification threshold).
    pub fn is_conclusive(&self) -> bool {
        self.evaluation.as_ref().is_some_and(|e| {
            e.verdict.is_conclusive() && e.verdict.availability != Availability::Unconfirmed
        })
    }
}

/// Checks every input (concurrently) and returns one line per input, in order.
pub async fn check_all(checker: &LayeredChecker, inputs: &[String]) -> Vec<CheckLine> {
    join_all(inputs.iter().map(|input| check_one(checker, input))).await
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
        OutputFormat::Table => render_table(lines),
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
                format!("{:?}", line.availability),
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
        };
        assert!(!line.is_conclusive());
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
