//! The whois checker (in progress).
