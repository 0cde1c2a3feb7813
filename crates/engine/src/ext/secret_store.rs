//! The local secret store: one file per secret in `$STACKFORM_HOME/secrets/`, each encrypted
//! with XChaCha20-Poly1305 (an AEAD: a changed or swapped file fails to open rather than
//! decrypting to garbage; the secret's name is the associated data, so files cannot be renamed
//! into one another). The key is `STACKFORM_SECRETS_KEY` (64 hex characters) or, without it, a
//! random key kept in `$STACKFORM_HOME/secrets.key`; key and secret files are mode 0600.
//!
//! What this protects: the files at rest, in backups and copies of STACKFORM_HOME without the
//! key. What it does not: anyone who can read the key (the same user, by default) can read the
//! secrets.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::ext::secrets::{SecretError, SecretStore, SecretValues, validate_name};

/// The environment variable that holds the key, hex-encoded.
pub const KEY_ENV: &str = "STACKFORM_SECRETS_KEY";

pub struct LocalStore {
    dir: PathBuf,
    key_file: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    version: u32,
    /// Hex of the 24-byte nonce.
    nonce: String,
    /// Hex of the ciphertext (the JSON of the values) and its tag.
    ciphertext: String,
}

impl LocalStore {
    /// The store of a stackform home; nothing is created until a secret is written.
    pub fn new(home: &Path) -> LocalStore {
        LocalStore {
            dir: home.join("secrets"),
            key_file: home.join("secrets.key"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sealed"))
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> SecretError + '_ {
        let path = path.to_owned();
        move |source| SecretError::Io {
            path: path.clone(),
            source,
        }
    }

    /// The secrets sealed in this store, by name.
    fn sealed_names(&self) -> Result<Vec<String>, SecretError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".sealed")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The key: from the environment, else the key file (made on first write).
    fn key(&self, create: bool) -> Result<Option<Key>, SecretError> {
        let decode = |hex_text: &str| -> Result<Key, SecretError> {
            let bytes = hex::decode(hex_text.trim()).map_err(|e| SecretError::Key {
                detail: e.to_string(),
            })?;
            if bytes.len() != 32 {
                return Err(SecretError::Key {
                    detail: format!("{} bytes, not 32", bytes.len()),
                });
            }
            Ok(*Key::from_slice(&bytes))
        };
        if let Ok(text) = std::env::var(KEY_ENV)
            && !text.is_empty()
        {
            return decode(&text).map(Some);
        }
        match std::fs::read_to_string(&self.key_file) {
            Ok(text) => decode(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                // A new key would seal this secret while every older one needs the lost key.
                let sealed = self.sealed_names()?;
                if !sealed.is_empty() {
                    return Err(SecretError::KeyMissing {
                        key_file: self.key_file.clone(),
                        sealed,
                    });
                }
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                crate::base::fsio::write_atomic(&self.key_file, hex::encode(key).as_bytes())
                    .map_err(self.io(&self.key_file))?;
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&self.key_file)(e)),
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for LocalStore {
    fn describe(&self) -> String {
        format!("the local secret store in {}", self.dir.display())
    }

    async fn get(&self, name: &str) -> Result<Option<SecretValues>, SecretError> {
        validate_name(name)?;
        let path = self.path(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path)(e)),
        };
        let undecryptable = || SecretError::Decrypt {
            name: name.to_owned(),
        };
        let sealed: Sealed = serde_json::from_slice(&bytes).map_err(|_| undecryptable())?;
        let key = self.key(false)?.ok_or_else(undecryptable)?;
        let nonce = hex::decode(&sealed.nonce).map_err(|_| undecryptable())?;
        let ciphertext = hex::decode(&sealed.ciphertext).map_err(|_| undecryptable())?;
        if nonce.len() != 24 {
            return Err(undecryptable());
        }
        let plain = XChaCha20Poly1305::new(&key)
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| undecryptable())?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| undecryptable())
    }

    async fn names(&self) -> Result<Vec<String>, SecretError> {
        self.sealed_names()
    }

    async fn put(&self, name: &str, values: &SecretValues) -> Result<(), SecretError> {
        validate_name(name)?;
        crate::base::fsio::create_private_dir(&self.dir).map_err(self.io(&self.dir))?;
        let key = self.key(true)?.expect("created when missing");
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(values).expect("string maps serialize");
        let ciphertext = XChaCha20Poly1305::new(&key)
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Key {
                detail: "encryption failed".into(),
            })?;
        let sealed = Sealed {
            version: 1,
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        };
        let path = self.path(name);
        crate::base::fsio::write_atomic(&path, &serde_json::to_vec(&sealed).expect("serializes"))
            .map_err(self.io(&path))
    }

    async fn delete(&self, name: &str) -> Result<bool, SecretError> {
        validate_name(name)?;
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn secrets_round_trip_encrypted_and_a_tampered_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("sf-secrets-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&dir);
        let values = SecretValues::from([("token".to_owned(), "hunter2-xyzzy".to_owned())]);
        runtime().block_on(async {
            assert_eq!(store.get("mlflow").await.unwrap(), None);
            store.put("mlflow", &values).await.unwrap();
            assert_eq!(store.get("mlflow").await.unwrap(), Some(values.clone()));
            assert_eq!(store.names().await.unwrap(), ["mlflow"]);
        });
        let file = std::fs::read(dir.join("secrets/mlflow.sealed")).unwrap();
        assert!(
            !String::from_utf8_lossy(&file).contains("hunter2"),
            "stored in plain text"
        );
        use std::os::unix::fs::PermissionsExt;
        for f in ["secrets/mlflow.sealed", "secrets.key"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        // Renamed into another secret's place: the name is bound to the ciphertext.
        std::fs::copy(
            dir.join("secrets/mlflow.sealed"),
            dir.join("secrets/other.sealed"),
        )
        .unwrap();
        let err = runtime().block_on(store.get("other")).unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err}");
        runtime().block_on(async {
            assert!(store.delete("mlflow").await.unwrap());
            assert!(!store.delete("mlflow").await.unwrap());
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_key_is_not_replaced_while_secrets_need_it() {
        if std::env::var_os(KEY_ENV).is_some() {
            return; // The key comes from the environment here, never from the file.
        }
        let dir = std::env::temp_dir().join(format!("sf-secrets-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&dir);
        let values = SecretValues::from([("token".to_owned(), "t".to_owned())]);
        runtime().block_on(store.put("mlflow", &values)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secrets"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "nobody else lists the secrets' names: {mode:o}"
            );
        }
        std::fs::remove_file(dir.join("secrets.key")).unwrap();
        let err = runtime().block_on(store.put("db", &values)).unwrap_err();
        assert!(matches!(err, SecretError::KeyMissing { .. }), "{err}");
        assert!(err.to_string().contains("mlflow"), "{err}");
        assert!(err.help().contains("restore"), "{}", err.help());
        assert!(!dir.join("secrets.key").exists(), "no new key was made");
        assert!(!dir.join("secrets/db.sealed").exists());
        // Once the lost secrets are deleted, a new key may be made.
        runtime().block_on(store.delete("mlflow")).unwrap();
        runtime().block_on(store.put("db", &values)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
