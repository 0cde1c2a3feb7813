//! The EKS access-entry API, which moto 5.1.22 lacks, written from its documented REST contract
//! (so `aws.eks.access_entry` is contract-tested, not emulator-tested): CreateAccessEntry,
//! DescribeAccessEntry, DeleteAccessEntry, AssociateAccessPolicy, ListAssociatedAccessPolicies
//! and DisassociateAccessPolicy, as described at
//! https://docs.aws.amazon.com/eks/latest/APIReference/API_<Operation>.html. The proxy in front of
//! moto ([`crate::harness::proxy`]) answers these calls from here and forwards every other one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::harness::http::{Incoming, Response, decode};

/// An access entry's JSON and its associated policies.
type Entry = (serde_json::Value, Vec<serde_json::Value>);

/// Access entries by (cluster, principal ARN).
#[derive(Default)]
pub struct AccessEntries(Mutex<BTreeMap<(String, String), Entry>>);

fn json_response(status: u16, body: &serde_json::Value, error_type: Option<&str>) -> Response {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", "contract"),
    ];
    if let Some(t) = error_type {
        headers.push(("x-amzn-ErrorType", t));
    }
    Response::new(status, &headers, body.to_string().as_bytes())
}

impl AccessEntries {
    /// The answer to an access-entry call, per its documented contract; `None` for any other
    /// call.
    pub fn answer(&self, req: &Incoming) -> Option<Response> {
        let method = req.method();
        let path = req.path_and_query().0;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if segments.len() < 3 || segments[0] != "clusters" || segments[2] != "access-entries" {
            return None;
        }
        let cluster = segments[1].to_owned();
        let input: serde_json::Value =
            serde_json::from_slice(&req.body).unwrap_or(serde_json::json!({}));
        let now = 1_764_000_000;
        let not_found = |what: &str| {
            json_response(
                404,
                &serde_json::json!({"message": format!("{what} not found")}),
                Some("ResourceNotFoundException"),
            )
        };
        let mut map = self.0.lock().unwrap();
        Some(match (method.as_str(), &segments[3..]) {
            // API_CreateAccessEntry: POST /clusters/{name}/access-entries
            ("POST", []) => {
                let principal = input["principalArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if principal.is_empty() {
                    return Some(json_response(
                        400,
                        &serde_json::json!({"message": "principalArn is required"}),
                        Some("InvalidParameterException"),
                    ));
                }
                let key = (cluster.clone(), principal.clone());
                if map.contains_key(&key) {
                    return Some(json_response(
                        409,
                        &serde_json::json!({"message": "The specified access entry resource is already in use on this cluster."}),
                        Some("ResourceInUseException"),
                    ));
                }
                let entry = serde_json::json!({
                    "clusterName": cluster,
                    "principalArn": principal,
                    "kubernetesGroups": input["kubernetesGroups"].as_array().cloned().unwrap_or_default(),
                    "accessEntryArn": format!("arn:aws:eks:eu-central-1:123456789012:access-entry/{cluster}/role/123456789012/{}", principal.rsplit('/').next().unwrap_or("")),
                    "createdAt": now,
                    "modifiedAt": now,
                    "tags": input["tags"].clone(),
                    "username": principal,
                    "type": input["type"].as_str().unwrap_or("STANDARD"),
                });
                map.insert(key, (entry.clone(), Vec::new()));
                json_response(200, &serde_json::json!({"accessEntry": entry}), None)
            }
            // API_DescribeAccessEntry / API_DeleteAccessEntry: /clusters/{name}/access-entries/{principalArn}
            (m @ ("GET" | "DELETE"), [principal]) => {
                let key = (cluster.clone(), decode(principal, false));
                match (m, map.get(&key).cloned()) {
                    (_, None) => not_found("access entry"),
                    ("GET", Some((entry, _))) => {
                        json_response(200, &serde_json::json!({"accessEntry": entry}), None)
                    }
                    _ => {
                        map.remove(&key);
                        json_response(200, &serde_json::json!({}), None)
                    }
                }
            }
            // API_AssociateAccessPolicy: POST .../access-entries/{principalArn}/access-policies
            ("POST", [principal, "access-policies"]) => {
                let principal = decode(principal, false);
                let Some((_, policies)) = map.get_mut(&(cluster.clone(), principal.clone())) else {
                    return Some(not_found("access entry"));
                };
                let policy = serde_json::json!({
                    "policyArn": input["policyArn"],
                    "accessScope": input["accessScope"],
                    "associatedAt": now,
                    "modifiedAt": now,
                });
                policies.retain(|p| p["policyArn"] != input["policyArn"]);
                policies.push(policy.clone());
                json_response(
                    200,
                    &serde_json::json!({"clusterName": cluster, "principalArn": principal, "associatedAccessPolicy": policy}),
                    None,
                )
            }
            // API_ListAssociatedAccessPolicies: GET .../access-policies
            ("GET", [principal, "access-policies"]) => {
                let principal = decode(principal, false);
                match map.get(&(cluster.clone(), principal.clone())) {
                    None => not_found("access entry"),
                    Some((_, policies)) => json_response(
                        200,
                        &serde_json::json!({"clusterName": cluster, "principalArn": principal, "associatedAccessPolicies": policies}),
                        None,
                    ),
                }
            }
            // API_DisassociateAccessPolicy: DELETE .../access-policies/{policyArn}
            ("DELETE", [principal, "access-policies", policy]) => {
                let (principal, policy) = (decode(principal, false), decode(policy, false));
                match map.get_mut(&(cluster, principal)) {
                    None => not_found("access entry"),
                    Some((_, policies)) => {
                        policies.retain(|p| p["policyArn"] != policy.as_str());
                        json_response(200, &serde_json::json!({}), None)
                    }
                }
            }
            _ => json_response(
                404,
                &serde_json::json!({"message": "unknown access-entry call"}),
                Some("ResourceNotFoundException"),
            ),
        })
    }
}
