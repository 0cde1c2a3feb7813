//! Azurite, the Azure Blob Storage emulator: started on a free loopback port from the pinned
//! install (`scripts/emulators install azurite`), one per test, killed with the test process.
//! Checks of what it holds go through the official client, signed with the emulator's key.

use std::process::Command;

use azure_storage_blob::models::BlobContainerClientGetPropertiesResultHeaders;
use futures_util::TryStreamExt;
use stackform_providers::azure::Account;

use crate::harness::emulator::{free_port, installed, serve};

/// The well-known key of Azurite's `devstoreaccount1` (public, in Microsoft's documentation).
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const ACCOUNT: &str = "devstoreaccount1";

pub struct Azurite {
    pub port: u16,
}

pub fn start() -> Azurite {
    let port = free_port();
    let mut cmd = Command::new(installed(
        "azurite/node_modules/.bin/azurite-blob",
        "azurite",
    ));
    cmd.args([
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--inMemoryPersistence",
        "--disableTelemetry",
    ]);
    serve(cmd, port, "azurite");
    Azurite { port }
}

impl Azurite {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// What points stackform at this emulator, with `key` as the account key.
    pub fn env_with_key(&self, key: &str) -> Vec<(&'static str, String)> {
        vec![(
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={};",
                self.endpoint()
            ),
        )]
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.env_with_key(KEY)
    }

    pub fn account(&self) -> Account {
        Account::new(ACCOUNT, &self.endpoint(), KEY)
    }

    /// A container's metadata, if it exists.
    pub fn container(&self, name: &str) -> Option<std::collections::HashMap<String, String>> {
        crate::harness::rt().block_on(async {
            let c = self.account().container(name).unwrap();
            let props = c.get_properties(None).await.ok()?;
            assert!(props.access().unwrap().is_none(), "public access is off");
            Some(props.metadata().unwrap())
        })
    }

    pub fn create_container(&self, name: &str) {
        crate::harness::rt().block_on(async {
            self.account()
                .container(name)
                .unwrap()
                .create(None)
                .await
                .unwrap();
        });
    }

    /// Uploads a blob, as a pipeline writing artifacts would.
    pub fn put(&self, container: &str, name: &str, bytes: &[u8]) {
        crate::harness::rt().block_on(async {
            self.account()
                .container(container)
                .unwrap()
                .blob_client(name)
                .upload(azure_core::http::RequestContent::from(bytes.to_vec()), None)
                .await
                .unwrap();
        });
    }

    pub fn get(&self, container: &str, name: &str) -> Option<Vec<u8>> {
        crate::harness::rt().block_on(async {
            let c = self.account().container(container).unwrap();
            let d = c.blob_client(name).download(None).await.ok()?;
            Some(d.body.collect().await.unwrap().to_vec())
        })
    }

    /// Blob names in a container.
    pub fn blobs(&self, container: &str) -> Vec<String> {
        crate::harness::rt().block_on(async {
            let c = self.account().container(container).unwrap();
            let mut pager = c.list_blobs(None).unwrap();
            let mut out = Vec::new();
            while let Some(item) = pager.try_next().await.unwrap() {
                out.extend(item.name);
            }
            out
        })
    }
}
