//! `domain-monitor check` end to end against real DNS, RDAP and WHOIS servers;
//! `check --health` also against the domains' own name servers (nsd).

mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    process::Output,
};

use support::{
    nsd::{Nsd, Zone, free_port_on},
    rdap_srv::DomainSpec,
    world::World,
};

/// Where `ns1.owned.test` and `ns1.moved.test` listen.
const CHILD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 31);
/// Where `ns1.bare.test` listens (on the same port as [`CHILD`]).
const BARE_CHILD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 32);

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
    assert!(line.get("health").is_none(), "no health without --health");
}

/// A world for `check --health`: `owned.test`, registry-locked, delegated to
/// its own server `ns1.owned.test` everywhere; `moved.test`, whose name
/// servers were changed at the registry only (to `ns1.owned.test`) while
/// the parent still delegates to `ns1.moved.test`. Both servers are one nsd
/// on [`CHILD`]; returns it and the port it listens on.
async fn health_world(world: &World) -> (Nsd, u16) {
    world.register("owned.test", "active").await;
    world.register("moved.test", "active").await;
    world
        .rdap
        .add_domain(
            &DomainSpec::new("owned.test")
                .registrar("Demo Registrar Inc.")
                .nameserver("ns1.owned.test")
                .status("active")
                .status("client transfer prohibited")
                .status("server delete prohibited")
                .status("server transfer prohibited")
                .status("server update prohibited")
                .created("2020-01-15T10:00:00Z")
                .expires("2027-01-15T10:00:00Z"),
        )
        .await;
    world
        .rdap
        .add_domain(
            &DomainSpec::new("moved.test")
                .registrar("Demo Registrar Inc.")
                .nameserver("ns1.owned.test")
                .status("active")
                .created("2020-01-15T10:00:00Z")
                .expires("2027-01-15T10:00:00Z"),
        )
        .await;
    let port = free_port_on(&[IpAddr::V4(CHILD)]);
    let child = tokio::task::block_in_place(|| {
        let child = Nsd::start_on(
            Zone::child("owned.test", &["ns1.owned.test"]),
            &[Zone::child("moved.test", &["ns1.moved.test"])],
            IpAddr::V4(CHILD),
            Some(port),
        );
        world.nsd.change(|zone| {
            let parent = std::mem::replace(zone, Zone::new("test"));
            *zone = parent
                .address("ns1.owned.test", IpAddr::V4(CHILD))
                .address("ns1.moved.test", IpAddr::V4(CHILD));
        });
        child
    });
    (child, port)
}

async fn check_health(world: &World, port: u16, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_domain-monitor"));
    command.env_clear().arg("check").arg("--health").args(args);
    for (key, value) in world.checker_env() {
        command.env(key, value);
    }
    command.env("NAMESERVER_PORT", port.to_string());
    command.output().await.expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_health_prints_the_health_report_of_each_domain() {
    let world = World::start().await;
    let (_child, port) = health_world(&world).await;
    // Delegated to its own server, but the registry's object holds no
    // registration data.
    let _bare = world
        .register_owned("bare.test", IpAddr::V4(BARE_CHILD), port)
        .await;
    world.rdap.add_domain(&DomainSpec::new("bare.test")).await;

    let output = check_health(&world, port, &["owned.test", "moved.test", "bare.test"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "moved.test is not healthy, so the run fails:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    // The verdict table first, then one health block per domain.
    assert!(stdout.starts_with("DOMAIN"), "{stdout}");
    let block = |name: &str| {
        let start = stdout
            .find(&format!("HEALTH OF {name}\n"))
            .unwrap_or_else(|| panic!("no health report of {name}:\n{stdout}"));
        let rest = &stdout[start..];
        rest[1..]
            .find("\nHEALTH OF ")
            .map_or(rest, |end| &rest[..=end])
    };
    let owned = block("owned.test");
    let line = |block: &str, prefix: &str| {
        block
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{block}"))
            .to_owned()
    };
    let healthy = line(owned, "Healthy ");
    assert!(
        healthy.contains("True") && healthy.contains("AllChecksPassed"),
        "{healthy}"
    );
    assert!(
        line(owned, "RegistryLocked").contains("Locked: the registry lock is set"),
        "{owned}"
    );
    let drift = line(owned, "DelegationDrift");
    assert!(
        drift.contains("False") && drift.contains("Consistent"),
        "{drift}"
    );
    assert!(
        line(owned, "ExpiringSoon").contains("2027-01-15"),
        "{owned}"
    );
    assert!(
        line(owned, "registration:").contains("registrar Demo Registrar Inc., expires 2027-01-15"),
        "{owned}"
    );
    assert!(
        line(owned, "lock:")
            .contains("registry lock set; registrar's lock clientTransferProhibited"),
        "{owned}"
    );
    assert!(
        line(owned, "delegation at ns1.owned.test:").ends_with("serves ns1.owned.test"),
        "{owned}"
    );
    // DNSSEC is off by default (dnssec: Ignore): no condition.
    assert!(!owned.contains("DNSSECValid"), "{owned}");

    let moved = block("moved.test");
    let drift = line(moved, "DelegationDrift");
    assert!(drift.contains("True") && drift.contains("Drift"), "{drift}");
    assert!(
        drift.contains("ns1.moved.test") && drift.contains("ns1.owned.test"),
        "the drift names both sets: {drift}"
    );
    assert!(line(moved, "Healthy ").contains("False"), "{moved}");
    assert!(
        line(moved, "delegation at the parent:").ends_with("ns1.moved.test"),
        "{moved}"
    );
    assert!(
        line(moved, "delegation at the registry:").ends_with("ns1.owned.test"),
        "{moved}"
    );
    // Not locked, and not required (registryLock: Ignore): reported only.
    assert!(
        line(moved, "RegistryLocked").contains("NotLocked"),
        "{moved}"
    );
    // Healthy names the failing condition in a few words; the drift's
    // sentences and advice are DelegationDrift's alone.
    let healthy = line(moved, "Healthy ");
    assert!(
        healthy.contains(
            "Not healthy: DelegationDrift (the registry's name servers differ from the parent's"
        ),
        "{healthy}"
    );
    assert!(
        drift.contains(
            "The registry lists ns1.owned.test; the parent and the child server that answers \
             list ns1.moved.test."
        ) && drift.contains(" Set the name servers at your registrar"),
        "{drift}"
    );
    assert!(!healthy.contains("Set the name servers"), "{healthy}");

    // A one-off run says what the registry returned, not what a later check
    // would do.
    let bare = block("bare.test");
    for condition in ["Healthy ", "RegistryLocked", "ExpiringSoon"] {
        let text = line(bare, condition);
        assert!(
            text.contains("the registry returned no registration data: rdap:")
                && !text.contains("not been asked")
                && !text.contains("next registration check"),
            "{text}"
        );
    }

    // A healthy domain alone: the run succeeds.
    let output = check_health(&world, port, &["owned.test"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Signatures required: DNSSEC is probed. This world's resolvers are
    // the TLD's own servers, which refuse to give the root's keys, so the
    // chain cannot be fetched: the report says so rather than guessing, and
    // `DNSSECValid` stays unknown (the signed worlds are tests/health_dnssec*).
    let output = check_health(&world, port, &["--dnssec", "required", "owned.test"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // A one-off run has no later check: what was asked for and could not be
    // checked fails it.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let dnssec = line(&stdout, "DNSSECValid");
    assert!(
        dnssec.contains("Unknown")
            && dnssec.contains("NotChecked")
            && dnssec.contains("DNSSEC could not be probed: cannot fetch the keys of test."),
        "{dnssec}"
    );
    // DNSSEC is asked for and not known: the domain is not called healthy.
    let healthy = line(&stdout, "Healthy ");
    assert!(
        healthy.contains("Unknown")
            && healthy.contains("Pending")
            && healthy.contains("DNSSECValid"),
        "{healthy}"
    );
    let why = line(&stdout, "dnssec not probed:");
    assert!(
        why.contains("cannot fetch the keys of test.") && why.contains("Refused"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_health_json_carries_the_status_the_operator_would_write() {
    let world = World::start().await;
    let (_child, port) = health_world(&world).await;

    // Expected elsewhere: the same delegation now drifts from the expectation.
    let output = check_health(
        &world,
        port,
        &[
            "--output",
            "json",
            "--expected-nameserver",
            "NS2.owned.test.",
            "--expiry-warning",
            "800d",
            "owned.test",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let health = &json[0]["health"];
    let condition = |type_: &str| {
        health["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap_or_else(|| panic!("no {type_} in {health}"))
            .clone()
    };
    assert_eq!(condition("DelegationDrift")["status"], "True", "{health}");
    assert!(
        condition("DelegationDrift")["message"]
            .as_str()
            .unwrap()
            .contains("ns2.owned.test"),
        "{health}"
    );
    // 2027-01-15 is within 800 days.
    assert_eq!(condition("ExpiringSoon")["reason"], "WithinWarning");
    assert_eq!(condition("Healthy")["status"], "False");
    let status = &health["status"];
    assert_eq!(status["registration"]["registrar"], "Demo Registrar Inc.");
    assert_eq!(status["registration"]["expiresAt"], "2027-01-15T10:00:00Z");
    assert_eq!(status["lock"]["locked"], true);
    assert_eq!(status["delegation"]["child"][0]["server"], "ns1.owned.test");
    assert_eq!(status["delegation"]["child"][0]["authoritative"], true);
    assert!(health.get("delegationError").is_none(), "{health}");

    // The configured DNS server does not answer: the delegation cannot be
    // probed, so neither can DNSSEC, and the JSON says why for both; the
    // error names the configured server, not "the parent's servers".
    let dead = free_port_on(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_domain-monitor"));
    command
        .env_clear()
        .args([
            "check", "--health", "--dnssec", "required", "--output", "json",
        ])
        .args(["--expected-nameserver", "ns1.owned.test", "owned.test"]);
    for (key, value) in world.checker_env() {
        command.env(key, value);
    }
    command.env("DNS_RESOLVERS", format!("127.0.0.1:{dead}"));
    command.env("NAMESERVER_PORT", port.to_string());
    let output = command.output().await.expect("binary runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let health = &json[0]["health"];
    let delegation_error = health["delegationError"].as_str().unwrap_or_default();
    assert!(
        delegation_error.starts_with(
            "the configured DNS servers (DNS_RESOLVERS) could not give the parent's delegation of owned.test: 127.0.0.1:"
        ),
        "{health}"
    );
    assert_eq!(
        health["dnssecError"], "the delegation, whose servers it asks, could not be probed",
        "{health}"
    );
    let healthy = health["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Healthy")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        healthy.contains("DelegationDrift (asked for by --expected-nameserver;")
            && healthy.contains("DNSSECValid (asked for by --dnssec;")
            && !healthy.contains("spec"),
        "{healthy}"
    );

    // An expected name server the CRD would refuse is refused here too,
    // rather than reported as drift.
    for bad in ["http://x", "ns1.owned.test:53", "ns_1.owned.test"] {
        let output =
            check_health(&world, port, &["--expected-nameserver", bad, "owned.test"]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{bad:?} is not a host name such as ns1.example.net"
            )),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing checked for {bad}");
    }

    // A warning the CRD would refuse is refused here too.
    let output = check_health(&world, port, &["--expiry-warning", "30 days", "owned.test"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a duration such as 30d"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
