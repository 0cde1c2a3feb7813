//! `local.directory`: a directory on this machine, e.g. a local artifact store.

use stackform_engine::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};

pub fn schema() -> ResourceSchema {
    ResourceSchema::new(
        "local.directory",
        "A directory on this machine. A relative path is taken inside the stack's own directory \
         under STACKFORM_HOME.",
    )
    .property(
        PropertySchema::new("path", PropType::String, "Where the directory is.")
            .required()
            .force_new(),
    )
    .output(OutputSchema::new(
        "absolute_path",
        PropType::String,
        "The directory's absolute path.",
    ))
    .output(OutputSchema::new(
        "uri",
        PropType::String,
        "The directory as a file:// URI.",
    ))
    .stateful()
}
