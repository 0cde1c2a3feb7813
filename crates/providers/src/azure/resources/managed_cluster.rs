//! `azure.containerservice.managed_cluster`: an AKS cluster with a system-assigned managed
//! identity, OIDC issuer and workload identity. AKS deletes the cluster's node resource group
//! after the cluster; a delete waits until that group is gone too.

use super::prelude::*;

pub struct ManagedCluster;

impl ArmKind for ManagedCluster {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.containerservice.managed_cluster",
            "An AKS cluster with a system-assigned managed identity, OIDC issuer and workload identity.",
        )
        .actions(&[
            "Microsoft.ContainerService/managedClusters/write",
            "Microsoft.ContainerService/managedClusters/read",
            "Microsoft.ContainerService/managedClusters/delete",
        ])
        .pricing(Pricing::Usage("the nodes' VM size per hour, their disks, and the tier's cluster fee".into()))
        .property(schema::name("1 to 63 letters, digits, `-` and `_`."))
        .property(schema::group())
        .property(schema::location())
        .property(schema::subscription())
        .property(
            PropertySchema::new("dns_prefix", PropType::String, "The API server's DNS prefix (default: the name).")
                .force_new(),
        )
        .property(PropertySchema::new(
            "kubernetes_version",
            PropType::String,
            "A supported AKS version (default: AKS's default).",
        ))
        .property(
            PropertySchema::new("node_count", PropType::Integer, "Nodes of the system pool.")
                .default(2),
        )
        .property(
            PropertySchema::new("node_vm_size", PropType::String, "The nodes' VM size.")
                .default("Standard_D4s_v5")
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "workload_identity",
                PropType::Boolean,
                "OIDC issuer and workload identity: pods act as managed identities without secrets.",
            )
            .default(true),
        )
        .property(
            PropertySchema::new(
                "entra_id",
                PropType::Boolean,
                "Sign-in with Entra ID and Azure RBAC for Kubernetes authorization: who may do what inside the cluster is an Azure role assignment (e.g. `Azure Kubernetes Service RBAC Cluster Admin`), not a local admin certificate.",
            )
            .default(true),
        )
        .property(schema::tags())
        .output(schema::id())
        .output(OutputSchema::new("name", PropType::String, "The cluster's name."))
        .output(OutputSchema::new("fqdn", PropType::String, "The API server's host name."))
        .output(OutputSchema::new("node_resource_group", PropType::String, "The group AKS keeps the nodes, disks and load balancers in."))
        .output(OutputSchema::new("oidc_issuer_url", PropType::String, "The OIDC issuer, for federated credentials."))
        .output(OutputSchema::new("principal_id", PropType::String, "The cluster's managed identity."))
        .output(OutputSchema::new("kubelet_object_id", PropType::String, "The nodes' (kubelet's) identity, which pulls images."))
        .output(OutputSchema::new("kubelet_client_id", PropType::String, "The kubelet identity's client id."))
        .stateful()
    }

    fn api_version(&self) -> &'static str {
        "2024-09-01"
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/providers/Microsoft.ContainerService/managedClusters/{}",
            group_id(arm, ctx, props)?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        let name = required(props, "name").unwrap_or_default();
        let wi = boolean(props, "workload_identity").unwrap_or(true);
        let mut properties = json!({
            "dnsPrefix": string(props, "dns_prefix").unwrap_or_else(|| name.clone()),
            "agentPoolProfiles": [{
                "name": "system",
                "mode": "System",
                "count": int(props, "node_count").unwrap_or(2),
                "vmSize": string(props, "node_vm_size").unwrap_or_else(|| "Standard_D4s_v5".into()),
                "osType": "Linux",
                "type": "VirtualMachineScaleSets",
            }],
            "oidcIssuerProfile": { "enabled": wi },
            "securityProfile": { "workloadIdentity": { "enabled": wi } },
        });
        // https://learn.microsoft.com/en-us/azure/aks/manage-azure-rbac
        if boolean(props, "entra_id").unwrap_or(true) {
            properties["aadProfile"] = json!({ "managed": true, "enableAzureRBAC": true });
        }
        if let Some(v) = string(props, "kubernetes_version") {
            properties["kubernetesVersion"] = json!(v);
        }
        Ok(json!({
            "location": location(ctx, props)?,
            "tags": tags(ctx, props),
            "identity": { "type": "SystemAssigned" },
            "properties": properties,
        }))
    }

    fn read(
        &self,
        _id: &str,
        _name: &str,
        body: &Json,
        properties: &mut Props,
        outputs: &mut Props,
    ) {
        let p = &body["properties"];
        outputs.insert("fqdn".into(), Value::String(text(&p["fqdn"])));
        outputs.insert(
            "node_resource_group".into(),
            Value::String(text(&p["nodeResourceGroup"])),
        );
        outputs.insert(
            "oidc_issuer_url".into(),
            Value::String(text(&p["oidcIssuerProfile"]["issuerURL"])),
        );
        outputs.insert(
            "principal_id".into(),
            Value::String(text(&body["identity"]["principalId"])),
        );
        let kubelet = &p["identityProfile"]["kubeletidentity"];
        outputs.insert(
            "kubelet_object_id".into(),
            Value::String(text(&kubelet["objectId"])),
        );
        outputs.insert(
            "kubelet_client_id".into(),
            Value::String(text(&kubelet["clientId"])),
        );
        if let Some(count) = p["agentPoolProfiles"][0]["count"].as_i64() {
            properties.insert("node_count".into(), Value::Int(count));
        }
        if let Some(wi) = p["securityProfile"]["workloadIdentity"]["enabled"].as_bool() {
            properties.insert("workload_identity".into(), Value::Bool(wi));
        }
        let entra =
            p["aadProfile"]["managed"] == true && p["aadProfile"]["enableAzureRBAC"] == true;
        properties.insert("entra_id".into(), Value::Bool(entra));
    }

    fn reads_before_delete(&self) -> bool {
        true
    }

    fn drains(&self) -> bool {
        true
    }

    fn deleted_after(&self, id: &str, body: &Json) -> Option<String> {
        body["properties"]["nodeResourceGroup"].as_str().map(|g| {
            let subscription = id.split('/').nth(2).unwrap_or_default();
            format!("/subscriptions/{subscription}/resourcegroups/{g}")
        })
    }
}
