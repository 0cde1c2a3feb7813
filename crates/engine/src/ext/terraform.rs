//! Terraform interop: reading a Terraform state (format version 4) into the components of a
//! registered stack, and writing a stack's managed resources as Terraform `import` blocks.
//!
//! Reading maps, in order: `--map component=output` given by the user; outputs shaped like the
//! ZenML Terraform modules' (an `artifact_store`, `container_registry` or `orchestrator` object
//! with a `configuration`); else attributes of resource types known to hold one (the bucket of an
//! `aws_s3_bucket`, ...). What comes out is a URI as `stack register` takes it, so registration
//! then looks each one up through the connector like any other.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::state::State;

/// A component found in a Terraform state, as `stack register` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// `artifact_store`, `container_registry` or `orchestrator`.
    pub component: String,
    /// `s3://bucket`, `gs://bucket`, a repository URL, `kubernetes:CLUSTER`.
    pub uri: String,
    /// Where in the state it came from, for messages.
    pub from: String,
}

/// The parts of a Terraform state that registration reads.
#[derive(Debug, Clone)]
pub struct TfState {
    pub outputs: BTreeMap<String, Json>,
    /// `(type, name, attributes)` of every managed resource instance.
    pub resources: Vec<(String, String, Json)>,
}

pub const COMPONENTS: [&str; 3] = ["artifact_store", "container_registry", "orchestrator"];

/// Parses a state file's text.
pub fn read_state(text: &str) -> Result<TfState, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match doc["version"].as_u64() {
        Some(4) => {}
        Some(v) => {
            return Err(format!(
                "state format version {v}; stackform reads version 4 (Terraform 0.12 and later)"
            ));
        }
        None => return Err("no `version`: not a Terraform state file".into()),
    }
    let outputs = doc["outputs"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v["value"].clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut resources = Vec::new();
    for r in doc["resources"].as_array().into_iter().flatten() {
        if r["mode"] != "managed" {
            continue;
        }
        let (Some(t), Some(n)) = (r["type"].as_str(), r["name"].as_str()) else {
            continue;
        };
        for i in r["instances"].as_array().into_iter().flatten() {
            resources.push((t.to_owned(), n.to_owned(), i["attributes"].clone()));
        }
    }
    Ok(TfState { outputs, resources })
}

/// The components a state holds; `maps` (component, output name) come first.
pub fn components(state: &TfState, maps: &[(String, String)]) -> Result<Vec<Mapped>, String> {
    let mut out: BTreeMap<String, Mapped> = BTreeMap::new();
    for (component, output) in maps {
        if !COMPONENTS.contains(&component.as_str()) {
            return Err(format!(
                "--map names component `{component}`; it must be one of {}",
                COMPONENTS.join(", ")
            ));
        }
        let value = state.outputs.get(output).ok_or_else(|| {
            format!(
                "--map {component}={output}: the state has no output `{output}` (it has: {})",
                state.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let uri = match value {
            Json::String(s) => uri_for(component, s),
            other => from_component(component, other).ok_or_else(|| {
                format!("output `{output}` is neither a string nor a component object")
            })?,
        };
        out.insert(
            component.clone(),
            Mapped {
                component: component.clone(),
                uri,
                from: format!("output `{output}`"),
            },
        );
    }
    for component in COMPONENTS {
        if out.contains_key(component) {
            continue;
        }
        if let Some(value) = state.outputs.get(component)
            && let Some(uri) = from_component(component, value)
        {
            out.insert(
                component.to_owned(),
                Mapped {
                    component: component.to_owned(),
                    uri,
                    from: format!("output `{component}`"),
                },
            );
        }
    }
    for (type_name, name, attrs) in &state.resources {
        let Some((component, uri)) = from_resource(type_name, attrs) else {
            continue;
        };
        out.entry(component.to_owned()).or_insert(Mapped {
            component: component.to_owned(),
            uri,
            from: format!("resource `{type_name}.{name}`"),
        });
    }
    Ok(out.into_values().collect())
}

/// A plain output's value as the URI of `component`.
fn uri_for(component: &str, value: &str) -> String {
    match component {
        "artifact_store" if !value.contains("://") => format!("s3://{value}"),
        "orchestrator" if !value.starts_with("kubernetes:") => {
            format!("kubernetes:{}", cluster_name(value))
        }
        _ => value.to_owned(),
    }
}

/// A ZenML-module component object (`{flavor, configuration}`) as a URI.
fn from_component(component: &str, value: &Json) -> Option<String> {
    let config = &value["configuration"];
    match component {
        "artifact_store" => config["path"].as_str().map(str::to_owned),
        "container_registry" => config["uri"].as_str().map(str::to_owned),
        "orchestrator" => config["kubernetes_context"]
            .as_str()
            .or_else(|| config["cluster_name"].as_str())
            .map(|c| format!("kubernetes:{}", cluster_name(c))),
        _ => None,
    }
}

/// `arn:aws:eks:REGION:ACCOUNT:cluster/NAME` (or a kubeconfig context) as the cluster's name.
fn cluster_name(context: &str) -> &str {
    context.rsplit_once("cluster/").map_or(context, |(_, n)| n)
}

/// A resource of a type known to be a component.
fn from_resource(type_name: &str, attrs: &Json) -> Option<(&'static str, String)> {
    let s = |k: &str| attrs[k].as_str().map(str::to_owned);
    match type_name {
        "aws_s3_bucket" => Some(("artifact_store", format!("s3://{}", s("bucket")?))),
        "google_storage_bucket" => Some(("artifact_store", format!("gs://{}", s("name")?))),
        "aws_ecr_repository" => Some(("container_registry", s("repository_url")?)),
        "aws_eks_cluster" => Some(("orchestrator", format!("kubernetes:{}", s("name")?))),
        "google_container_cluster" => Some(("orchestrator", format!("kubernetes:{}", s("name")?))),
        "azurerm_kubernetes_cluster" => {
            Some(("orchestrator", format!("kubernetes:{}", s("name")?)))
        }
        _ => None,
    }
}

/// How a stackform type is imported into Terraform: its Terraform type, and the import ID from
/// the resource's physical id, in the format each resource type's Terraform documentation gives
/// under "Import" (registry.terraform.io/providers/hashicorp/{aws,google,azurerm}/latest/docs/
/// resources/<type>#import).
fn terraform_type(
    type_name: &str,
    physical_id: &str,
    outputs: &crate::provider::Props,
) -> Option<(&'static str, String)> {
    let id = physical_id.to_owned();
    let output = |k: &str| outputs.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Some(match type_name {
        // aws_s3_bucket: "import S3 bucket using the bucket".
        "aws.s3.bucket" => ("aws_s3_bucket", id),
        // aws_ecr_repository: "using the name".
        "aws.ecr.repository" => ("aws_ecr_repository", id),
        // aws_iam_role: "using the name".
        "aws.iam.role" => ("aws_iam_role", id),
        // aws_iam_policy: "using the arn".
        "aws.iam.policy" => ("aws_iam_policy", output("arn").unwrap_or(id)),
        // aws_vpc, aws_subnet, aws_internet_gateway, aws_route_table, aws_security_group: "using
        // the ... id".
        "aws.ec2.vpc" => ("aws_vpc", id),
        "aws.ec2.subnet" => ("aws_subnet", id),
        "aws.ec2.internet_gateway" => ("aws_internet_gateway", id),
        "aws.ec2.route_table" => ("aws_route_table", id),
        "aws.ec2.security_group" => ("aws_security_group", id),
        // aws_eks_cluster: "using the name".
        "aws.eks.cluster" => ("aws_eks_cluster", id),
        // aws_eks_node_group: "using the cluster_name and node_group_name separated by a colon".
        "aws.eks.nodegroup" => ("aws_eks_node_group", id.replacen('/', ":", 1)),
        // aws_eks_access_entry: "using the cluster_name and principal_arn separated by a colon".
        "aws.eks.access_entry" => ("aws_eks_access_entry", id.replacen('/', ":", 1)),
        // aws_iam_openid_connect_provider: "using the ARN".
        "aws.iam.openid_connect_provider" => ("aws_iam_openid_connect_provider", id),
        // google_storage_bucket: "{{project_id}}/{{bucket}}" or "{{bucket}}".
        "gcp.storage.bucket" => ("google_storage_bucket", id),
        // azurerm_storage_container (with storage_account_name): the container's URL,
        // "https://ACCOUNT.blob.core.windows.net/CONTAINER".
        "azure.storage.container" => ("azurerm_storage_container", output("url").unwrap_or(id)),
        _ => return None,
    })
}

/// A Terraform resource name for an address (`[A-Za-z_][A-Za-z0-9_-]*`).
fn resource_name(address: &str) -> String {
    let mut name: String = address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

/// The `import` blocks (Terraform's JSON syntax) of a stack's managed resources, and what was
/// left out (types Terraform has no counterpart for, external and found resources).
pub fn imports(state: &State) -> (Json, Vec<String>) {
    let mut blocks = Vec::new();
    let mut skipped = Vec::new();
    for (address, r) in &state.resources {
        if r.found.is_some() {
            skipped.push(format!(
                "{address} ({}: not created by this stack)",
                r.type_name
            ));
            continue;
        }
        match terraform_type(&r.type_name, &r.physical_id, &r.outputs) {
            Some((tf, id)) => blocks.push(serde_json::json!({
                "to": format!("{tf}.{}", resource_name(address)),
                "id": id,
            })),
            None => skipped.push(format!(
                "{address} ({}: no Terraform resource type)",
                r.type_name
            )),
        }
    }
    (serde_json::json!({ "import": blocks }), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zenml_outputs_and_known_resources_map_to_components() {
        let text = r#"{"version": 4, "outputs": {
            "artifact_store": {"value": {"flavor": "s3", "configuration": {"path": "s3://a"}}},
            "bucket": {"value": "b"}},
          "resources": [
            {"mode": "managed", "type": "aws_ecr_repository", "name": "r",
             "instances": [{"attributes": {"repository_url": "1.dkr.ecr.x.amazonaws.com/r"}}]},
            {"mode": "data", "type": "aws_eks_cluster", "name": "d",
             "instances": [{"attributes": {"name": "not-managed"}}]}]}"#;
        let state = read_state(text).unwrap();
        let got = components(&state, &[]).unwrap();
        let uris: Vec<(&str, &str)> = got
            .iter()
            .map(|m| (m.component.as_str(), m.uri.as_str()))
            .collect();
        assert_eq!(
            uris,
            [
                ("artifact_store", "s3://a"),
                ("container_registry", "1.dkr.ecr.x.amazonaws.com/r")
            ]
        );
        // A map wins over what the outputs say.
        let got = components(&state, &[("artifact_store".into(), "bucket".into())]).unwrap();
        assert_eq!(got[0].uri, "s3://b");
        assert!(components(&state, &[("database".into(), "bucket".into())]).is_err());
        assert!(
            read_state(r#"{"version": 3}"#)
                .unwrap_err()
                .contains("version 3")
        );
    }
}
