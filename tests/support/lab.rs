//! A registry lab for verdict tests: one TLD served by two authoritative nsd
//! servers (as every real TLD has 2–13), the registry's RDAP as rdap-srv or
//! as an HTTP stub that answers what a quirky registry or a proxy answers
//! (HTML 404, 429, 403), and a WHOIS server that may be absent altogether.

use std::time::Duration;

use super::{
    http_stub::{HttpStub, Reply},
    nsd::{TldServers, Zone},
    rdap_srv::{DomainSpec, RdapSrv},
    whois_server::{Reply as WhoisReply, WhoisServer},
};

/// Where the lab's RDAP answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdapFront {
    /// The ICANN reference server: RFC 9083 error objects for unknown names.
    Registry,
    /// The HTTP stub: whatever [`Lab::rdap_reply`] sets (404 with an empty
    /// body for anything unset).
    Stub,
}

/// The running servers of one TLD.
pub struct Lab {
    /// The TLD, e.g. `lab`.
    pub tld: String,
    /// Two authoritative servers of the TLD zone.
    pub dns: TldServers,
    /// The registry's RDAP server.
    pub rdap: RdapSrv,
    /// The stub standing in for a quirky RDAP service.
    pub stub: HttpStub,
    front: RdapFront,
    /// The registry's WHOIS server; `None`: the registry runs none.
    pub whois: Option<WhoisServer>,
}

impl Lab {
    /// Starts a lab for `tld`.
    pub async fn start(tld: &str, front: RdapFront, with_whois: bool) -> Self {
        let zone = Zone::new(tld);
        let dns = tokio::task::spawn_blocking(move || TldServers::start(&zone, 2))
            .await
            .expect("start two nsd servers");
        let whois = if with_whois {
            Some(WhoisServer::start(Vec::<(String, WhoisReply)>::new()).await)
        } else {
            None
        };
        Self {
            tld: tld.to_owned(),
            dns,
            rdap: RdapSrv::start().await,
            stub: HttpStub::start().await,
            front,
            whois,
        }
    }

    /// Delegates `name` at both servers.
    pub fn delegate(&self, name: &str) {
        let ns = format!("ns1.{name}");
        tokio::task::block_in_place(|| self.dns.add_delegation(name, &[ns.as_str()]));
    }

    /// An RDAP domain object at the registry's server.
    pub async fn rdap_object(&self, spec: &DomainSpec) {
        self.rdap.add_domain(spec).await;
    }

    /// What the stub answers for `name` (with [`RdapFront::Stub`]).
    pub fn rdap_reply(&self, name: &str, reply: Reply) {
        self.stub.set(&format!("/rdap/domain/{name}"), reply);
    }

    /// What the WHOIS server answers for `query`.
    pub fn whois_reply(&self, query: &str, text: &str) {
        self.whois
            .as_ref()
            .expect("this lab has a WHOIS server")
            .set(query, WhoisReply::text(text));
    }

    /// Environment for a `check` run or an operator against this lab. The
    /// budgets are the defaults (WHOIS 1/s, RDAP 10/s); only the
    /// confirmation delay is shortened, to 2 s, to keep the tests short.
    pub fn env(&self) -> Vec<(String, String)> {
        let rdap = match self.front {
            RdapFront::Registry => self.rdap.base_url().to_string(),
            RdapFront::Stub => self.stub.url("/rdap/"),
        };
        // No WHOIS: a port nothing listens on, as where port 43 is switched off.
        let whois = self
            .whois
            .as_ref()
            .map_or_else(|| "127.0.0.1:9".to_owned(), |w| w.host_port().to_string());
        vec![
            ("DNS_RESOLVERS".into(), self.dns.resolvers()),
            ("DNS_TIMEOUT".into(), "1s".into()),
            ("RDAP_OVERRIDES".into(), format!("{}={rdap}", self.tld)),
            ("RDAP_TIMEOUT".into(), "3s".into()),
            ("WHOIS_OVERRIDES".into(), format!("{}={whois}", self.tld)),
            ("WHOIS_TIMEOUT".into(), "2s".into()),
            ("HTTP_TIMEOUT".into(), "1s".into()),
            ("REGISTRY_CONFIRM_AFTER".into(), "2s".into()),
        ]
    }
}

/// How long the lab's confirmation over time takes (`REGISTRY_CONFIRM_AFTER`).
pub const CONFIRM_AFTER: Duration = Duration::from_secs(2);
