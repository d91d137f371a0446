//! domain-monitor: a Kubernetes operator that watches domain names and tells
//! its users' API the moment one becomes available for registration.
//!
//! A domain's journey: [`resource`] (the `MonitoredDomain` it lives in) →
//! [`controller`] (reconcile and schedule) → the checks → the verdict → status
//! and notifications. [`config`] holds every setting; [`domain_name`] turns user
//! input into the A-labels everything else works on.

pub mod backoff;
pub mod check;
pub mod check_command;
pub mod config;
pub mod controller;
pub mod dhc;
pub mod domain_name;
pub mod health;
pub mod layered;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod otel;
pub mod ratelimit;
pub mod resource;
pub mod schedule;
pub mod shard;
pub mod standing;
pub mod sync;
pub mod telemetry;
pub mod verdict;
pub mod web;
pub mod words;
