//! Helpers shared by the integration tests. Each test binary uses a subset, so
//! unused-item warnings are expected here.
#![allow(dead_code)]

pub mod cluster;
pub mod nsd;
