//! SharedKey authorization for an account key (and the emulator's well-known one).
//!
//! `azure_storage_blob` takes only an Entra token credential or a SAS in the URL; an account key
//! signs each request instead. The policy runs per try, last before the transport, so a retried
//! request is signed afresh with a new `x-ms-date`. The string to sign is the Blob service's
//! (version 2009-09-19 and later): the verb, eleven standard headers (an empty Content-Length
//! when 0), every `x-ms-*` header sorted, then `/account/path` and the sorted query parameters.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs with `account`'s key. Its `Debug` never shows the key.
pub struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedKey({}, <key>)", self.account)
    }
}

impl SharedKey {
    /// From the account name and its base64 key.
    pub fn new(account: &str, key_base64: &str) -> Result<SharedKey, String> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_base64.trim())
            .map_err(|_| format!("the key of storage account `{account}` is not base64"))?;
        Ok(SharedKey {
            account: account.to_owned(),
            key,
        })
    }

    fn string_to_sign(&self, req: &Request) -> String {
        let headers = req.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let mut length = get("content-length");
        if length.is_empty()
            && let Some(n) = req.body().len()
            && n > 0
        {
            length = n.to_string();
        }
        if length == "0" {
            length.clear();
        }
        let mut ms: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.as_str().trim().to_owned(),
                )
            })
            .collect();
        ms.sort();
        let mut resource = format!("/{}{}", self.account, req.url().path());
        let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in req.url().query_pairs() {
            query
                .entry(k.to_lowercase())
                .or_default()
                .push(v.into_owned());
        }
        for (k, mut values) in query {
            values.sort();
            resource.push_str(&format!("\n{k}:{}", values.join(",")));
        }
        let mut s = format!("{}\n", req.method());
        for h in ["content-encoding", "content-language"] {
            s.push_str(&get(h));
            s.push('\n');
        }
        s.push_str(&length);
        s.push('\n');
        for h in [
            "content-md5",
            "content-type",
            "date",
            "if-modified-since",
            "if-match",
            "if-none-match",
            "if-unmodified-since",
            "range",
        ] {
            // `Date` is signed empty: every request carries `x-ms-date` instead.
            if h != "date" {
                s.push_str(&get(h));
            }
            s.push('\n');
        }
        for (k, v) in ms {
            s.push_str(&format!("{k}:{v}\n"));
        }
        s.push_str(&resource);
        s
    }
}

#[async_trait::async_trait]
impl Policy for SharedKey {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let now = azure_core::time::OffsetDateTime::now_utc();
        request.insert_header("x-ms-date", azure_core::time::to_rfc7231(&now));
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(self.string_to_sign(request).as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}
