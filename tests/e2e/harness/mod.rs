//! What the end-to-end tests stand on: the `stackform` binary run in an isolated home
//! ([`Home`], [`Run`]), repository fixtures and snapshot settings, the pinned emulators started on
//! free loopback ports (moto, fake-gcs-server, Azurite), the fault-injecting proxy in front of
//! moto, the small HTTP layer that clients and the loopback servers share, and the TLS fixtures'
//! configurations.

pub mod azurite;
pub mod emulator;
pub mod gcs;
pub mod home;
pub mod http;
pub mod moto;
pub mod proxy;
pub mod tls;

pub use home::{
    Home, NO_ENV, Run, component, docker_auth, fixture, physical_id, repo_root, settings, sim_dag,
    summary,
};

/// A runtime for the async SDK clients that check, from outside, what stackform made.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}
