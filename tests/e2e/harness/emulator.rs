//! Starting emulators for tests (what they hold is checked through [`crate::harness::http`], as
//! someone outside stackform would).
//!
//! Each server is spawned from a thread that lives as long as the test process and dies with it
//! (PR_SET_PDEATHSIG), on a free loopback port, from the pinned install in `.emulators/` that
//! `scripts/emulators install all` makes.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::repo_root;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pinned install at `rel` (below `.emulators/`), or a failure naming the install command.
pub fn installed(rel: &str, what: &str) -> PathBuf {
    let path = repo_root().join(".emulators").join(rel);
    assert!(
        path.exists(),
        "{what} is not installed at {}: run `scripts/emulators install all` (CI's .ci/run does)",
        path.display()
    );
    path
}

/// Spawns `cmd` so that it dies with the test process, and waits until `port` accepts.
pub fn serve(mut cmd: Command, port: u16, what: &'static str) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: prctl in the child before exec, with no allocation.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what} starts: {e}"));
        tx.send(child.id()).unwrap();
        // Reap the server if it ever exits, then keep the thread (its parent) alive.
        let _ = child.wait();
        loop {
            std::thread::park();
        }
    });
    let _pid = rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
