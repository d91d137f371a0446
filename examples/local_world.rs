//! A local `.test` world for the demo and `just check-local`: real nsd and
//! rdap-srv, a WHOIS server, the user's domain API and a callback receiver
//! that prints what it gets. Writes the operator's settings to an env file,
//! then runs until Ctrl-C. With `--drop-after SECONDS`, `dropping.test` is
//! released by the "registry" (delegation, RDAP object and WHOIS record go).
//!
//! ```sh
//! cargo run --example local_world -- --env-file target/demo/world.env --drop-after 45
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::{path::PathBuf, time::Duration};

use serde_json::json;
use support::world::World;

struct Options {
    env_file: PathBuf,
    drop_after: Option<Duration>,
}

fn options() -> Result<Options, String> {
    let mut env_file = PathBuf::from("target/local-world.env");
    let mut drop_after = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env-file" => env_file = args.next().ok_or("--env-file needs a path")?.into(),
            "--drop-after" => {
                let seconds: u64 = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--drop-after needs a number of seconds")?;
                drop_after = Some(Duration::from_secs(seconds));
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --env-file PATH, --drop-after SECONDS)"
                ));
            }
        }
    }
    Ok(Options {
        env_file,
        drop_after,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("local_world: {err}");
            std::process::exit(2);
        }
    };
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.register("dropping.test", "pendingDelete").await;
    world.register("expiring.test", "redemptionPeriod").await;
    world.register("held.test", "clientHold").await;
    tokio::task::block_in_place(|| world.nsd.remove_delegation("held.test"));
    world.unregistered("free.test");
    // A drop provable from DNS and RDAP alone: the registry's WHOIS refuses
    // automated clients for it, as several ccTLDs do for every name.
    world.whois.set(
        "rdap-only.test",
        support::whois_server::Reply::text(
            "Requests of this client are not permitted. Please use https://www.nic.test/ for queries.\r\n",
        ),
    );
    // The demo pins `Bücher.test` by hand: free as well.
    world.unregistered("xn--bcher-kva.test");
    world.set_domain_list(&json!({"domains": [
        "taken.test",
        {"domain": "dropping.test", "priority": true},
        "expiring.test",
        "held.test",
        "free.test",
    ]}));

    if let Some(dir) = options.env_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // The .test registry's premium list: such names look free everywhere.
    let reserved = options.env_file.with_file_name("reserved-names.txt");
    if let Err(err) = std::fs::write(
        &reserved,
        "# premium names of the .test registry\npremium.test  premium name, sold by the registry at a premium price\n",
    ) {
        eprintln!("local_world: cannot write {}: {err}", reserved.display());
        std::process::exit(1);
    }
    let mut settings = world.operator_env();
    settings.extend([
        ("RESERVED_NAMES".into(), reserved.display().to_string()),
        ("REGISTRY_CONFIRM_AFTER".into(), "5s".into()),
    ]);
    let env: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if let Err(err) = std::fs::write(&options.env_file, env) {
        eprintln!(
            "local_world: cannot write {}: {err}",
            options.env_file.display()
        );
        std::process::exit(1);
    }
    println!(
        "local world ready: settings in {}",
        options.env_file.display()
    );
    println!("  taken.test     registered, delegated");
    println!(
        "  dropping.test  pendingDelete (priority){}",
        match options.drop_after {
            Some(after) => format!(", released by the registry in {}s", after.as_secs()),
            None => String::new(),
        }
    );
    println!("  expiring.test  redemptionPeriod");
    println!("  held.test      clientHold: registered but absent from DNS");
    println!("  free.test      nobody holds it");
    println!("  rdap-only.test nobody holds it; the registry's WHOIS refuses us (RDAP only)");
    println!("  premium.test   on the registry's premium list: Reserved");

    let drop_at = options.drop_after.map(|d| tokio::time::Instant::now() + d);
    let mut dropped = false;
    let mut printed = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    // SIGTERM too (the scripts stop the world with it): leaving the loop
    // drops the servers, which stops nsd and rdap-srv with them.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = async {
                match terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            } => break,
            _ = ticker.tick() => {}
        }
        let callbacks = world.callbacks();
        for request in &callbacks[printed..] {
            let body = request.json();
            if body.get("status").is_some() {
                println!(
                    "callback: AVAILABILITY NOTIFICATION {} confidence {} (Idempotency-Key {})",
                    body["domain"].as_str().unwrap_or("?"),
                    body["confidence"],
                    request.header("idempotency-key").unwrap_or("-"),
                );
            } else {
                println!(
                    "callback: {} {} -> {}",
                    body["domain"].as_str().unwrap_or("?"),
                    body["check_type"].as_str().unwrap_or("?"),
                    body["result"].as_str().unwrap_or("?"),
                );
            }
        }
        printed = callbacks.len();
        if !dropped && drop_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
            world.drop_domain("dropping.test").await;
            dropped = true;
            println!(
                "registry: dropping.test released (delegation, RDAP object and WHOIS record removed)"
            );
        }
    }
    println!("local world stopped");
}
