//! Fuzz target: a template file, from its bytes to what `stackform template validate` shows.
//!
//! Whatever the bytes, the YAML layer, the template parser, the checks against the catalog and
//! the plan of `validate` (missing inputs unknown) must answer with a plan or with diagnostics,
//! and every diagnostic must render: never a panic, an overflow, a stack overflow or an
//! allocation out of proportion to the input.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use stackform_engine::base::source::SourceFile;
use stackform_engine::lang::{template, yaml};
use stackform_engine::plan::resolve::{InputValues, StackContext};
use stackform_engine::plan::{PlanRequest, plan};
use stackform_fuzz::{catalog, render};

fuzz_target!(|data: &[u8]| {
    // Templates are read as UTF-8; invalid bytes become U+FFFD rather than a lost input.
    let text = String::from_utf8_lossy(data).into_owned();
    let source = SourceFile::new("fuzz.yaml", text);

    // The YAML layer on its own: its tree as plain data, or its one diagnostic.
    match yaml::parse(&source) {
        Ok(node) => {
            std::hint::black_box(node.to_value().to_string());
        }
        Err(d) => {
            std::hint::black_box(render(&d));
        }
    }

    let parsed = match template::parse(&source) {
        Ok(t) => t,
        Err(diags) => {
            for d in &diags.0 {
                std::hint::black_box(render(d));
            }
            return;
        }
    };

    // `template validate`: checked, inputs resolved where they can be, then planned.
    let request = PlanRequest {
        template: &parsed,
        catalog: catalog(),
        inputs: &InputValues::default(),
        stack: StackContext::default(),
        state: None,
        partial: true,
        replace: &[],
        data: &HashMap::new(),
    };
    match plan(&request) {
        Ok(p) => {
            std::hint::black_box(serde_json::to_string(&p).ok());
        }
        Err(diags) => {
            for d in &diags.0 {
                std::hint::black_box(render(d));
            }
        }
    }
});
