//! The registrar checker (in progress).
