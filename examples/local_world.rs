//! A local `.test` world for the demo and `just check-local`: real nsd and
//! rdap-srv, a WHOIS server, the user's domain API and a callback receiver
//! that prints what it gets. Writes the operator's settings to an env file,
//! then runs until Ctrl-C. With `--drop-after SECONDS`, `dropping.test` is
//! released by the "registry" (delegation, RDAP object and WHOIS record go).
//!
//! The world is signed (DNSSEC): its own root zone and `test.` (served by
//! the same two nsd, so that the servers of `DNS_RESOLVERS` answer the
//! `DNSKEY .` and `DS test.` queries the chain of trust starts with). The
//! root's KSK goes into `trust-anchors.txt` next to the env file, and the
//! env file's `DNSSEC_TRUST_ANCHORS` names it.
//!
//! Three domains are owned (health mode), registry-locked, each served by
//! its own nsd on 127.0.0.31/.32/.34 (the port goes into the env file as
//! `NAMESERVER_PORT`):
//! - `owned.test`: signed, its DS at the parent (`dnssec: Required`): all
//!   healthy, `DNSSECValid` True;
//! - `drifting.test`: unsigned (`dnssec` not checked). With `--drift-after
//!   SECONDS`, the registry's record of it starts naming other name servers
//!   while the parent zone and the domain's own server do not: a
//!   delegation drift, as in a hijack or a half-done migration;
//! - `rekeyed.test`: signed with a new key while the parent still publishes
//!   the DS of the old one (a key rollover the registrar never heard of;
//!   `dnssec: Required`): `DNSSECValid` False, `DSMismatch`.
//!
//! For a DomainHealthCheck it also runs `shop.test` on an nsd of its own
//! (127.0.0.33, on `NAMESERVER_PORT` too) and two unbound resolvers: `fast`
//! asks that nsd, `slow` a lagging copy of the zone. It writes the check to `domainhealthcheck.yaml` next to the env
//! file. With `--change-after SECONDS`, `www.shop.test` moves from
//! 192.0.2.1 to 192.0.2.2 (a new serial): `fast` serves it at once, `slow`
//! only when its copy follows, 30 s later.
//!
//! ```sh
//! cargo run --example local_world -- --env-file target/demo/world.env --drop-after 45 --drift-after 60 --change-after 60
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    time::Duration,
};

use clap::Parser;
use serde_json::json;
use support::{
    nsd::{Keys, Nsd, Zone, free_port_on},
    unbound::Unbound,
    world::{OwnedSigning, World},
};

/// Where the owned domains' own name servers listen.
const OWNED_SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 31);
const DRIFTING_SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 32);
const REKEYED_SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 34);
/// Where `shop.test`'s own name server listens.
const SHOP_SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 33);
/// Where the registry says `drifting.test`'s servers are after the drift.
const DRIFTED_TO: &str = "ns1.parking.example";

/// A local `.test` world for the demo and `just check-local` (see the
/// file's doc).
#[derive(Parser)]
#[command(name = "local_world")]
struct Options {
    /// Where the operator's settings go (`KEY=VALUE` lines); the other
    /// files are written next to it.
    #[arg(long, default_value_os_t = support::target_dir().join("local-world.env"))]
    env_file: PathBuf,
    /// Seconds until the registry releases `dropping.test`.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    drop_after: Option<Duration>,
    /// Seconds until the registry's name servers of `drifting.test` change.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    drift_after: Option<Duration>,
    /// Seconds until `www.shop.test` moves to 192.0.2.2.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    change_after: Option<Duration>,
}

/// A whole number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("{text:?} is not a number of seconds"))
}

/// How long the lagging copy of `shop.test` takes to follow a change.
const SLOW_LAG: Duration = Duration::from_secs(30);

/// `shop.test` and its resolvers.
struct Shop {
    nsd: Nsd,
    lagging: Nsd,
    fast: Unbound,
    slow: Unbound,
}

impl Shop {
    /// Starts `shop.test`'s own server on `port` (where every domain's own
    /// name servers listen here), its lagging copy and the two resolvers.
    fn start(port: u16) -> Self {
        let zone = Zone::child("shop.test", &["ns1.shop.test"])
            .address("ns1.shop.test", IpAddr::V4(SHOP_SERVER))
            .address("www.shop.test", "192.0.2.1".parse().unwrap());
        let nsd = Nsd::start_on(zone.clone(), &[], IpAddr::V4(SHOP_SERVER), Some(port));
        let lagging = Nsd::start(zone);
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let fast = Unbound::start(local, "shop.test", nsd.addr());
        let slow = Unbound::start(local, "shop.test", lagging.addr());
        Self {
            nsd,
            lagging,
            fast,
            slow,
        }
    }

    /// The DomainHealthCheck of the demo.
    fn check_yaml(&self) -> String {
        format!(
            "apiVersion: domainmonitor.io/v1alpha1\n\
             kind: DomainHealthCheck\n\
             metadata:\n  name: shop\n  namespace: default\n\
             spec:\n  domain: shop.test\n  interval: 10s\n  failureThreshold: 2\n\
             \x20 resolvers:\n\
             \x20   - {{name: fast, address: \"{}\"}}\n\
             \x20   - {{name: slow, address: \"{}\"}}\n\
             \x20 records:\n\
             \x20   - name: www\n      type: A\n      expect: [{{exact: 192.0.2.1}}]\n",
            self.fast.addr(),
            self.slow.addr()
        )
    }

    fn move_www(nsd: &Nsd) {
        nsd.change(|zone| zone.set_addresses("www.shop.test", &["192.0.2.2".parse().unwrap()]));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = Options::parse();
    let world = World::start_signed().await;
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
    // The owned domains: each on its own server, all on one port, the way
    // name servers all listen on port 53.
    let nameserver_port = free_port_on(&[
        IpAddr::V4(OWNED_SERVER),
        IpAddr::V4(DRIFTING_SERVER),
        IpAddr::V4(SHOP_SERVER),
        IpAddr::V4(REKEYED_SERVER),
    ]);
    // shop.test's servers start while the owned domains are registered
    // (each registration waits for nsd and rdap-srv to serve it).
    let shop = std::thread::spawn(move || Shop::start(nameserver_port));
    let (owned_keys, rekeyed_keys, retired_keys) = tokio::task::block_in_place(|| {
        (
            Keys::generate("owned.test"),
            Keys::generate("rekeyed.test"),
            Keys::generate("rekeyed.test"),
        )
    });
    let _owned_server = world
        .register_owned_signed(
            "owned.test",
            IpAddr::V4(OWNED_SERVER),
            nameserver_port,
            OwnedSigning {
                keys: &owned_keys,
                ds: owned_keys.ds(),
            },
        )
        .await;
    // Signed with the new key; the parent still has the retired key's DS.
    let _rekeyed_server = world
        .register_owned_signed(
            "rekeyed.test",
            IpAddr::V4(REKEYED_SERVER),
            nameserver_port,
            OwnedSigning {
                keys: &rekeyed_keys,
                ds: retired_keys.ds(),
            },
        )
        .await;
    let _drifting_server = world
        .register_owned(
            "drifting.test",
            IpAddr::V4(DRIFTING_SERVER),
            nameserver_port,
        )
        .await;
    let owned = |domain: &str, dnssec: &str| {
        json!({"domain": domain, "health": {
            "registryLock": "Required",
            "expectedNameservers": [format!("ns1.{domain}")],
            "dnssec": dnssec,
            "criticality": "critical",
        }})
    };
    world.set_domain_list(&json!({"domains": [
        "taken.test",
        {"domain": "dropping.test", "priority": true},
        "expiring.test",
        "held.test",
        "free.test",
        owned("owned.test", "Required"),
        owned("drifting.test", "Ignore"),
        owned("rekeyed.test", "Required"),
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
    // The world's root KSK: the only trust anchor of its operator.
    let anchors = options.env_file.with_file_name("trust-anchors.txt");
    let anchor = world.trust_anchor().expect("a signed world");
    if let Err(err) = std::fs::write(&anchors, format!("; the local world's root KSK\n{anchor}")) {
        eprintln!("local_world: cannot write {}: {err}", anchors.display());
        std::process::exit(1);
    }
    let shop = tokio::task::block_in_place(|| shop.join()).unwrap_or_else(|_| {
        eprintln!("local_world: shop.test's servers did not start");
        std::process::exit(1);
    });
    let check = options.env_file.with_file_name("domainhealthcheck.yaml");
    if let Err(err) = std::fs::write(&check, shop.check_yaml()) {
        eprintln!("local_world: cannot write {}: {err}", check.display());
        std::process::exit(1);
    }
    let mut settings = world.operator_env();
    settings.extend([
        ("RESERVED_NAMES".into(), reserved.display().to_string()),
        ("REGISTRY_CONFIRM_AFTER".into(), "5s".into()),
        ("NAMESERVER_PORT".into(), nameserver_port.to_string()),
        ("DOMAIN_HEALTH_CHECKS".into(), "true".into()),
        ("DNSSEC_TRUST_ANCHORS".into(), anchors.display().to_string()),
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
    println!(
        "  owned.test     owned (health mode): locked, delegated to its own server, signed (DNSSEC valid from {})",
        anchors.display()
    );
    println!(
        "  drifting.test  owned (health mode){}",
        match options.drift_after {
            Some(after) => format!(
                ", its name servers change at the registry only in {}s",
                after.as_secs()
            ),
            None => String::new(),
        }
    );
    println!(
        "  rekeyed.test   owned (health mode): signed with a new key, the parent still has the old key's DS (DSMismatch)"
    );
    println!(
        "  shop.test      a DomainHealthCheck ({}): resolvers fast {} and slow {} (a lagging copy){}",
        check.display(),
        shop.fast.addr(),
        shop.slow.addr(),
        match options.change_after {
            Some(after) => format!(
                "; www moves to 192.0.2.2 in {}s, slow follows {}s later",
                after.as_secs(),
                SLOW_LAG.as_secs()
            ),
            None => String::new(),
        }
    );

    let started = tokio::time::Instant::now();
    let drop_at = options.drop_after.map(|d| started + d);
    let drift_at = options.drift_after.map(|d| started + d);
    let mut dropped = false;
    let mut drifted = false;
    let change_at = options.change_after.map(|d| started + d);
    let (mut changed, mut followed) = (false, false);
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
        if !drifted && drift_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
            world
                .change_registry_nameservers("drifting.test", &[DRIFTED_TO])
                .await;
            drifted = true;
            println!(
                "registry: drifting.test now names {DRIFTED_TO} (the parent zone and its own server still say ns1.drifting.test)"
            );
        }
        let now = tokio::time::Instant::now();
        if !changed && change_at.is_some_and(|at| now >= at) {
            tokio::task::block_in_place(|| Shop::move_www(&shop.nsd));
            changed = true;
            println!("shop.test: www moved to 192.0.2.2 (new serial); resolver slow lags behind");
        }
        if changed && !followed && change_at.is_some_and(|at| now >= at + SLOW_LAG) {
            tokio::task::block_in_place(|| Shop::move_www(&shop.lagging));
            followed = true;
            println!("shop.test: the lagging copy followed; resolver slow serves the new serial");
        }
    }
    println!("local world stopped");
}
