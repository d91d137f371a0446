//! Domain health (SPEC §10): the state of the domains users own.

pub mod delegation;
