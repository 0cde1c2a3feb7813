//! End-to-end tests: the real `stackform` binary, run as a user would run it.

mod aws;
mod aws_crash;
mod azure;
mod azurite;
mod connectors;
mod day2;
mod deploy;
mod emulator;
mod errors;
mod export;
mod gcp;
mod gcp_api;
mod gcp_stack;
mod gcs;
mod moto;
mod plan;
mod plugins;
mod protection;
mod proxy;
mod reliability;
mod remote_state;
mod secrets;
mod support;
mod teardown;
mod template;
mod terraform;
