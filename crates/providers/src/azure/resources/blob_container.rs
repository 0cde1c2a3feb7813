//! `azure.storage.blob_container`: a blob container in an account the stack manages, over ARM
//! (never public). Its marks are container metadata (`stackform_*`), not ARM tags.

use std::collections::BTreeMap;

use super::prelude::*;
use crate::marks;

pub struct BlobContainer;

impl ArmKind for BlobContainer {
    fn schema(&self) -> ResourceSchema {
        ResourceSchema::new(
            "azure.storage.blob_container",
            "A blob container in an account the stack manages, over ARM (never public).",
        )
        .actions(&[
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new("account_id", PropType::String, "The storage account's id.")
                .required()
                .force_new(),
        )
        .property(schema::name(
            "3 to 63 lowercase letters, digits and hyphens.",
        ))
        .property(PropertySchema::new(
            "metadata",
            PropType::map_of(PropType::String),
            "Metadata besides stackform's own.",
        ))
        .output(schema::id())
        .output(OutputSchema::new(
            "name",
            PropType::String,
            "The container's name.",
        ))
        .output(OutputSchema::new(
            "uri",
            PropType::String,
            "`az://NAME`, as artifact stores name it.",
        ))
        .output(OutputSchema::new(
            "url",
            PropType::String,
            "The container's blob URL.",
        ))
        .stateful()
    }

    fn api_version(&self) -> &'static str {
        "2023-05-01"
    }

    fn id(&self, _arm: &Arm, _ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/blobServices/default/containers/{}",
            required(props, "account_id")?,
            required(props, "name")?
        ))
    }

    fn body(&self, _arm: &Arm, ctx: &OpContext, props: &Props) -> Result<Json, ProviderError> {
        let mut metadata = string_map(props, "metadata");
        metadata.extend(marks::azure_metadata(&ctx.ownership));
        Ok(json!({ "properties": { "publicAccess": "None", "metadata": metadata } }))
    }

    fn tagged(&self) -> bool {
        false
    }

    fn marks_of(&self, body: &Json) -> BTreeMap<String, String> {
        string_fields(&body["properties"]["metadata"])
    }

    fn ours(&self, ctx: &OpContext, marks: &BTreeMap<String, String>) -> bool {
        marks::owned(ctx, marks, |v| v.to_owned())
    }

    fn read(&self, id: &str, name: &str, body: &Json, properties: &mut Props, outputs: &mut Props) {
        let account = id
            .split("/storageAccounts/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default();
        outputs.insert("uri".into(), Value::String(format!("az://{name}")));
        outputs.insert(
            "url".into(),
            Value::String(format!("https://{account}.blob.core.windows.net/{name}")),
        );
        let user: BTreeMap<String, String> = marks::user_marks(&self.marks_of(body));
        *properties = marks::with_user_marks(properties, "metadata", &user);
    }
}
