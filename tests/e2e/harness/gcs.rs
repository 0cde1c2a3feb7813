//! fake-gcs-server, the GCS emulator: started on a free loopback port from the pinned install
//! (`scripts/emulators install gcs`), one per test, killed with the test process.

use std::process::Command;

use crate::harness::emulator::{free_port, installed, serve};
use crate::harness::http::{Answer, http};

pub struct FakeGcs {
    pub port: u16,
}

pub fn start() -> FakeGcs {
    let port = free_port();
    let mut cmd = Command::new(installed("gcs/fake-gcs-server", "fake-gcs-server"));
    let url = format!("http://127.0.0.1:{port}");
    cmd.args([
        "-scheme",
        "http",
        "-backend",
        "memory",
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
        "-external-url",
        &url,
        "-log-level",
        "error",
    ]);
    serve(cmd, port, "fake-gcs-server");
    FakeGcs { port }
}

impl FakeGcs {
    /// What points stackform (and any GCS client) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "STORAGE_EMULATOR_HOST",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("GOOGLE_CLOUD_PROJECT", "stackform-test".into()),
        ]
    }

    pub fn get(&self, path: &str) -> Answer {
        http(self.port, "GET", path, &[], b"")
    }

    /// The bucket as the JSON API shows it, if it exists.
    pub fn bucket(&self, name: &str) -> Option<serde_json::Value> {
        let a = self.get(&format!("/storage/v1/b/{name}"));
        (a.status == 200).then(|| a.json())
    }

    pub fn create_bucket(&self, name: &str) {
        let body = serde_json::json!({ "name": name }).to_string();
        let a = http(
            self.port,
            "POST",
            "/storage/v1/b?project=stackform-test",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
        assert!(a.status < 300, "{} {}", a.status, a.text());
    }

    /// Uploads an object, as a pipeline writing artifacts would.
    pub fn put(&self, bucket: &str, name: &str, bytes: &[u8]) {
        let a = http(
            self.port,
            "POST",
            &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
            &[("Content-Type", "application/octet-stream".into())],
            bytes,
        );
        assert!(a.status < 300, "{} {}", a.status, a.text());
    }

    /// Object names in a bucket.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let a = self.get(&format!("/storage/v1/b/{bucket}/o"));
        a.json()["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["name"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn object(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let encoded = name.replace('/', "%2F");
        let a = self.get(&format!("/storage/v1/b/{bucket}/o/{encoded}?alt=media"));
        (a.status == 200).then_some(a.body)
    }
}
