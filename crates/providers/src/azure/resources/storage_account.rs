//! `azure.storage.account`: a StorageV2 account (TLS 1.2, HTTPS only, no public blob access).
//! Its name is unique in all of Azure.

use super::prelude::*;

pub struct StorageAccount;

fn is_lower_alnum(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl ArmKind for StorageAccount {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.storage.account",
            "A StorageV2 account: TLS 1.2, HTTPS only, no public blob access.",
        )
        .actions(&[
            "Microsoft.Storage/storageAccounts/write",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Storage/storageAccounts/delete",
        ])
        .pricing(Pricing::Usage("storage, operations and egress".into()))
        .property(schema::name("3 to 24 lowercase letters and digits, unique in Azure (build it with `${stack.compact_name}` and `${stack.suffix}`)."))
        .property(schema::group())
        .property(schema::location())
        .property(schema::subscription())
        .property(
            PropertySchema::new("sku", PropType::String, "`Standard_LRS`, `Standard_ZRS`, `Standard_GRS`, ...")
                .default("Standard_LRS"),
        )
        .property(schema::tags())
        .output(schema::id())
        .output(OutputSchema::new("name", PropType::String, "The account's name."))
        .output(OutputSchema::new("blob_endpoint", PropType::String, "`https://NAME.blob.core.windows.net/`."))
        .stateful()
    }

    fn api_version(&self) -> &'static str {
        "2023-05-01"
    }

    fn id(&self, arm: &Arm, ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            group_id(arm, ctx, props)?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        let name = required(props, "name").unwrap_or_default();
        if !(3..=24).contains(&name.len()) || !is_lower_alnum(&name) {
            return Err(invalid(format!(
                "storage account name `{name}` must be 3 to 24 lowercase letters and digits: build it from `${{stack.compact_name}}` and `${{stack.suffix}}`"
            )));
        }
        Ok(json!({
            "location": location(ctx, props)?,
            "tags": tags(ctx, props),
            "sku": { "name": string(props, "sku").unwrap_or_else(|| "Standard_LRS".into()) },
            "kind": "StorageV2",
            "properties": {
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": false,
                "supportsHttpsTrafficOnly": true,
            },
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
        outputs.insert(
            "blob_endpoint".into(),
            Value::String(text(&body["properties"]["primaryEndpoints"]["blob"])),
        );
        if let Some(sku) = body["sku"]["name"].as_str() {
            properties.insert("sku".into(), Value::String(sku.to_owned()));
        }
    }

    fn globally_named(&self) -> bool {
        true
    }
}
