//! PromQL read by Prometheus's own parser: a real Prometheus
//! ([`super::prometheus::Prometheus`]) answers `/api/v1/parse_query` with the
//! syntax tree as JSON, and [`names_in`] walks it for the metric names, label
//! names and functions a query uses. A query that does not parse is an error
//! carrying Prometheus's message.

use std::collections::BTreeSet;

use serde_json::Value;

use super::prometheus::Prometheus;

/// What one PromQL expression names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Metric names of its selectors (`foo` and `{__name__="foo"}`).
    pub metrics: BTreeSet<String>,
    /// Label names of its matchers, `by`/`without` lists, `on`/`ignoring`
    /// lists and `group_left`/`group_right` lists (`__name__` excluded).
    pub labels: BTreeSet<String>,
    /// Function names, aggregation operators (`sum`, `topk`…) and the
    /// set operators (`and`, `or`, `unless`) it uses.
    pub functions: BTreeSet<String>,
    /// Every label matcher of its selectors but `__name__`'s: (label,
    /// operator `=`, `!=`, `=~` or `!~`, value), in the order written.
    pub matchers: Vec<(String, String, String)>,
}

impl Names {
    /// The (label, value) pairs its `=` and `=~` matchers accept, a regex's
    /// alternatives (`a|b`) one by one; negative matchers are left out: they
    /// match anything else.
    pub fn positive_matchers(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (label, op, value) in &self.matchers {
            match op.as_str() {
                "=" => found.push((label.clone(), value.clone())),
                "=~" => found.extend(value.split('|').map(|v| (label.clone(), v.to_owned()))),
                _ => {}
            }
        }
        found
    }
}

/// The names `promql` uses, as Prometheus parses it.
pub async fn names_in(prometheus: &Prometheus, promql: &str) -> Result<Names, String> {
    let url = url::Url::parse_with_params(
        &format!("{}/api/v1/parse_query", prometheus.base_url()),
        [("query", promql)],
    )
    .map_err(|e| format!("parse_query URL: {e}"))?;
    let answer: Value = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| format!("parse_query: {e}"))?
        .json()
        .await
        .map_err(|e| format!("parse_query answer: {e}"))?;
    if answer["status"] != "success" {
        return Err(format!(
            "Prometheus does not parse {promql}: {}",
            answer["error"].as_str().unwrap_or("(no message)")
        ));
    }
    let mut names = Names::default();
    collect(&answer["data"], &mut names);
    Ok(names)
}

fn strings(list: &Value) -> impl Iterator<Item = String> + '_ {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
}

/// Walks one node of the tree and everything below it.
fn collect(node: &Value, names: &mut Names) {
    match node {
        Value::Array(items) => items.iter().for_each(|item| collect(item, names)),
        Value::Object(fields) => {
            match node["type"].as_str() {
                Some("vectorSelector" | "matrixSelector") => {
                    for matcher in node["matchers"].as_array().into_iter().flatten() {
                        match matcher["name"].as_str() {
                            Some("__name__") => {
                                if let Some(value) = matcher["value"].as_str() {
                                    names.metrics.insert(value.to_owned());
                                }
                            }
                            Some(label) => {
                                names.labels.insert(label.to_owned());
                                names.matchers.push((
                                    label.to_owned(),
                                    matcher["type"].as_str().unwrap_or_default().to_owned(),
                                    matcher["value"].as_str().unwrap_or_default().to_owned(),
                                ));
                            }
                            None => {}
                        }
                    }
                    if let Some(name) = node["name"].as_str().filter(|n| !n.is_empty()) {
                        names.metrics.insert(name.to_owned());
                    }
                }
                Some("aggregation") => {
                    names.labels.extend(strings(&node["grouping"]));
                    if let Some(op) = node["op"].as_str() {
                        names.functions.insert(op.to_owned());
                    }
                }
                Some("call") => {
                    if let Some(name) = node["func"]["name"].as_str() {
                        names.functions.insert(name.to_owned());
                    }
                }
                Some("binaryExpr") => {
                    names.labels.extend(strings(&node["matching"]["labels"]));
                    names.labels.extend(strings(&node["matching"]["include"]));
                    if let Some(op) = node["op"]
                        .as_str()
                        .filter(|op| op.chars().all(|c| c.is_ascii_alphabetic()))
                    {
                        names.functions.insert(op.to_owned());
                    }
                }
                _ => {}
            }
            fields
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "matchers" | "func"))
                .for_each(|(_, value)| collect(value, names));
        }
        _ => {}
    }
}

/// Values for the Grafana variables a dashboard query may use, for
/// [`from_grafana`].
#[derive(Debug, Clone, Copy)]
pub struct GrafanaValues<'a> {
    /// `$__rate_interval`, a PromQL duration (`5m`).
    pub rate_interval: &'a str,
    /// `$__interval`, a PromQL duration.
    pub interval: &'a str,
    /// `$__range`, a PromQL duration.
    pub range: &'a str,
    /// `$job` and `${job}`, a regex (`.*` for every job).
    pub job: &'a str,
}

/// A Grafana query as plain PromQL: its variables replaced by `values`, and
/// `$instance`/`${instance}` by every instance (`.*`). Panics on any other
/// variable, so a dashboard cannot use one the tests do not know.
pub fn from_grafana(expr: &str, values: &GrafanaValues<'_>) -> String {
    let promql = [
        ("$__rate_interval", values.rate_interval),
        ("$__interval", values.interval),
        ("$__range", values.range),
        ("${job}", values.job),
        ("$job", values.job),
        ("${instance}", ".*"),
        ("$instance", ".*"),
    ]
    .iter()
    .fold(expr.to_owned(), |e, (var, value)| e.replace(var, value));
    assert!(!promql.contains('$'), "unknown Grafana variable in {expr}");
    promql
}
