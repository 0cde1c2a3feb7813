//! End-to-end tests: the real `stackform` binary, run as a user would run it.
//!
//! - [`harness`]: what the tests stand on (the binary in an isolated home, the emulators, moto,
//!   the fault-injecting proxy, one small HTTP layer for clients and servers);
//! - [`contract`]: loopback servers written from the documented contracts of cloud APIs that
//!   have no emulator;
//! - [`suites`]: the tests themselves, one file per area.

mod contract;
mod harness;
mod suites;
