//! `domain-monitor check` end to end against real DNS, RDAP and WHOIS servers.

mod support;

use std::process::Output;

use support::world::World;

async fn check(world: &World, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_domain-monitor"));
    command.env_clear().arg("check").args(args);
    for (key, value) in world.checker_env() {
        command.env(key, value);
    }
    command.output().await.expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_verdicts_with_evidence() {
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.register("leaving.test", "pendingDelete").await;
    world.unregistered("free.test");

    let output = check(&world, &["Taken.TEST", "free.test", "leaving.test"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "all conclusive:\n{stdout}\n{stderr}"
    );
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(rows[0].starts_with("DOMAIN"), "{stdout}");
    let row = |name: &str| {
        *rows
            .iter()
            .find(|r| r.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"))
    };
    let taken = row("taken.test");
    assert!(
        taken.contains("Registered") && taken.contains("2027-01-15"),
        "{taken}"
    );
    assert!(
        taken.contains("registered: dns delegated"),
        "reason: {taken}"
    );
    let free = row("free.test");
    assert!(free.contains("Available"), "{free}");
    assert!(
        free.contains("whois not found"),
        "a free name is confirmed by every layer: {free}"
    );
    let leaving = row("leaving.test");
    assert!(leaving.contains("PendingDelete"), "{leaving}");

    // An unconfirmed or invalid name makes the exit code say so.
    let output = check(&world, &["exa mple.test", "taken.test"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Invalid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_carries_every_report() {
    let world = World::start().await;
    world.unregistered("free.test");
    let output = check(&world, &["--output", "json", "free.test"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let line = &json[0];
    assert_eq!(line["domain"], "free.test");
    assert_eq!(line["availability"], "Available");
    assert_eq!(line["notify"], true);
    let confidence = line["confidence"].as_f64().unwrap();
    assert!(confidence >= 0.9, "{confidence}");
    let kinds: Vec<&str> = line["evaluation"]["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for kind in ["dns", "rdap", "whois"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
}
