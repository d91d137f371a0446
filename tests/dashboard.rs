//! The Grafana dashboards checked against Grafana's own schema by
//! `dashboard-check` (tests/dashboard/, built on grafana-foundation-sdk): both
//! shipped dashboards (the operator's and the domain owners') pass, and each kind of mistake the check exists for —
//! unknown fields, wrong field types, a panel type Grafana does not ship, a
//! data source the dashboard does not declare — is rejected with its JSON path
//! and cause. The helper comes from `DM_DASHBOARD_CHECK` (set by `just test`),
//! else tests/dashboard/build.sh builds it (cached).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::{Value, json};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_path() -> PathBuf {
    repo().join("charts/domain-monitor/dashboards/domain-monitor.json")
}

/// Every dashboard the chart ships: the operator's, then the domain owners'.
fn shipped_paths() -> [PathBuf; 2] {
    [
        shipped_path(),
        repo().join("charts/domain-monitor/dashboards/domain-health.json"),
    ]
}

fn shipped() -> Value {
    let path = shipped_path();
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The dashboard-check binary: `DM_DASHBOARD_CHECK`, else built by
/// tests/dashboard/build.sh (a no-op when its build is up to date).
fn checker() -> &'static Path {
    static CHECKER: OnceLock<PathBuf> = OnceLock::new();
    CHECKER.get_or_init(|| {
        if let Some(path) = std::env::var_os("DM_DASHBOARD_CHECK").map(PathBuf::from) {
            assert!(
                path.is_file(),
                "DM_DASHBOARD_CHECK={} does not exist: run `bash tests/dashboard/build.sh`",
                path.display()
            );
            return path;
        }
        let output = Command::new("bash")
            .arg(repo().join("tests/dashboard/build.sh"))
            .output()
            .expect("cannot run bash");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "tests/dashboard/build.sh failed ({}): run `just test`, or \
             `export DM_DASHBOARD_CHECK=\"$(bash tests/dashboard/build.sh | tail -n 1)\"`\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(
            stdout
                .lines()
                .last()
                .expect("build.sh prints the binary's path"),
        )
    })
}

/// Runs dashboard-check on `file`: Ok(what it printed) when the dashboard
/// passes, Err(the problems it printed) when it does not.
fn check_file(file: &Path) -> Result<String, String> {
    let output = Command::new(checker())
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", checker().display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.code() {
        Some(0) => Ok(stdout),
        Some(1) => Err(stdout),
        _ => panic!(
            "dashboard-check failed to run ({}): {}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn check(dashboard: &Value) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.json");
    std::fs::write(&file, serde_json::to_vec_pretty(dashboard).unwrap()).unwrap();
    check_file(&file)
}

/// Index into `panels` of the first panel of type `kind`.
fn first(dashboard: &Value, kind: &str) -> usize {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["type"] == kind)
        .unwrap_or_else(|| panic!("the dashboard has no {kind} panel"))
}

#[test]
fn the_shipped_dashboards_pass_grafanas_schema() {
    for path in shipped_paths() {
        let printed = check_file(&path)
            .unwrap_or_else(|problems| panic!("{} fails its check:\n{problems}", path.display()));
        assert!(printed.trim_end().ends_with(": ok"), "{printed}");
    }
}

#[test]
fn each_kind_of_mistake_is_rejected_with_its_path_and_cause() {
    let dashboard = shipped();
    let ts = first(&dashboard, "timeseries");
    let stat = first(&dashboard, "stat");
    let last_row = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .rposition(|p| p["type"] == "row")
        .unwrap();
    let panel = format!("panels[{ts}]");

    type Mutation = Box<dyn Fn(&mut Value)>;
    // What is wrong, how to make the mistake, and the line dashboard-check
    // prints for it (its start: JSON path and cause).
    let mistakes: Vec<(&str, Mutation, String)> = vec![
        (
            "an unknown top-level field",
            Box::new(|d| d["refreshInterval"] = json!("30s")),
            "refreshInterval: unknown field: Grafana's schema of Dashboard has no".into(),
        ),
        (
            "an unknown field in a panel",
            Box::new(move |d| d["panels"][ts]["legend"] = json!({"show": true})),
            format!("{panel}.legend: unknown field: Grafana's schema of Panel has no"),
        ),
        (
            "an unknown field in a panel's options (by the timeseries plugin's schema)",
            Box::new(move |d| d["panels"][ts]["options"]["legendd"] = json!({})),
            format!("{panel}.options.legendd: unknown field"),
        ),
        (
            "an unknown field in a panel's field config",
            Box::new(move |d| d["panels"][ts]["fieldConfig"]["defaults"]["unitt"] = json!("s")),
            format!("{panel}.fieldConfig.defaults.unitt: unknown field"),
        ),
        (
            "an unknown field in a Prometheus query",
            Box::new(move |d| d["panels"][ts]["targets"][0]["legendFormatt"] = json!("{{x}}")),
            format!("{panel}.targets[0].legendFormatt: unknown field"),
        ),
        (
            "a panel type Grafana does not ship",
            Box::new(move |d| d["panels"][ts]["type"] = json!("timeseriez")),
            format!("{panel}.type: \"timeseriez\" is not a panel type Grafana ships"),
        ),
        (
            "a panel type Grafana does not ship, inside a collapsed row",
            Box::new(move |d| {
                let panels = d["panels"].as_array_mut().unwrap();
                let mut nested: Vec<Value> = panels.drain(last_row + 1..).collect();
                nested[0]["type"] = json!("grpah");
                panels[last_row]["collapsed"] = json!(true);
                panels[last_row]["panels"] = json!(nested);
            }),
            format!("panels[{last_row}].panels[0].type: \"grpah\" is not a panel type"),
        ),
        (
            "a query whose data source uid is a variable that does not exist",
            Box::new(move |d| {
                d["panels"][ts]["targets"][0]["datasource"]["uid"] = json!("${prometheus}");
            }),
            format!(
                "{panel}.targets[0].datasource.uid: \"${{prometheus}}\" refers to variable \"prometheus\", \
                 which the dashboard does not declare: refer to ${{datasource}}"
            ),
        ),
        (
            "a panel whose data source is one Grafana instance's uid",
            Box::new(move |d| d["panels"][ts]["datasource"]["uid"] = json!("P1809F7CD0C75ACF3")),
            format!(
                "{panel}.datasource.uid: \"P1809F7CD0C75ACF3\" is not a data source the dashboard declares"
            ),
        ),
        (
            "a panel whose data source is a variable that is not a data source",
            Box::new(move |d| d["panels"][ts]["datasource"]["uid"] = json!("${job}")),
            format!(
                "{panel}.datasource.uid: \"${{job}}\" refers to variable \"job\", a query variable"
            ),
        ),
        (
            "a panel whose data source type is not the variable's",
            Box::new(move |d| d["panels"][ts]["datasource"]["type"] = json!("loki")),
            format!(
                "{panel}.datasource.type: \"loki\", but data source variable \"datasource\" holds \"prometheus\""
            ),
        ),
        (
            "a panel with queries and no data source",
            Box::new(move |d| {
                d["panels"][stat]
                    .as_object_mut()
                    .unwrap()
                    .remove("datasource");
            }),
            format!("panels[{stat}].datasource: missing"),
        ),
        (
            "a wrong field type in a panel",
            Box::new(move |d| d["panels"][ts]["gridPos"]["h"] = json!("8")),
            format!(
                "{panel}.gridPos.h: wrong type: a JSON string where Grafana's schema wants uint32"
            ),
        ),
        (
            "a wrong field type in a query",
            Box::new(move |d| d["panels"][ts]["targets"][0]["expr"] = json!(42)),
            format!("{panel}.targets[0].expr: wrong type: a JSON number"),
        ),
        (
            "a wrong field type at the top level",
            Box::new(|d| d["tags"] = json!("domain-monitor")),
            "tags: wrong type: a JSON string where Grafana's schema wants []string".into(),
        ),
    ];

    let mut missed = Vec::new();
    for (what, mutate, expected) in &mistakes {
        let mut broken = dashboard.clone();
        mutate(&mut broken);
        match check(&broken) {
            Ok(printed) => missed.push(format!("{what}: accepted ({})", printed.trim_end())),
            Err(problems) if !problems.contains(&format!(": {expected}")) => {
                missed.push(format!("{what}: no line with {expected:?} in\n{problems}"))
            }
            Err(_) => {}
        }
    }
    assert!(
        missed.is_empty(),
        "dashboard-check let mistakes through or did not name them:\n{}",
        missed.join("\n")
    );
}
