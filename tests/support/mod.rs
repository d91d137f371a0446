//! Helpers shared by the integration tests. Each test binary uses a subset, so
//! unused-item warnings are expected here.
#![allow(dead_code)]

pub mod chaos;
pub mod cluster;
pub mod dhc;
pub mod dns_script;
pub mod health;
pub mod http_stub;
pub mod lab;
pub mod nsd;
pub mod operator;
pub mod prometheus;
pub mod proxy;
pub mod rdap_srv;
pub mod throttle;
pub mod tls;
pub mod unbound;
pub mod whois_server;
pub mod world;
