//! Every end-to-end test suite: each file runs the binary through one area (a cloud's stack, a
//! command family, a failure mode) against the harness's emulators or the contract servers.

mod aws;
mod aws_crash;
mod azure;
mod azure_stack;
mod connectors;
mod day2;
mod deploy;
mod errors;
mod export;
mod extensions;
mod gcp;
mod gcp_stack;
mod hardening;
mod kubernetes;
mod pipeline;
mod plan;
mod plugins;
mod protection;
mod reliability;
mod remote_state;
mod secrets;
mod teardown;
mod template;
mod terraform;
