//! What both fuzz targets share: the catalog a template is checked against and the renderer a
//! diagnostic is shown with, each the one the CLI uses, so that a crash found here is a crash a
//! user could meet.

use std::path::PathBuf;
use std::sync::OnceLock;

use stackform_engine::base::diagnostic::Diagnostic;
use stackform_engine::lang::schema::Catalog;

/// The schemas of the types built in without a cloud SDK (`local.*`, `sim.*`), built once: real
/// schemas, so the checks of properties, outputs, sensitivity and data sources all run. No
/// plugin is started and no file is read.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        stackform_providers::builtin_registry(&stackform_providers::Config {
            sim_dir: PathBuf::from("/nonexistent/stackform-fuzz-sim"),
            connectors: None,
            plugin_dirs: Vec::new(),
            integrations: Vec::new(),
        })
        .catalog()
    })
}

/// A diagnostic rendered as `stackform` prints it on a terminal: bounded first, then through
/// miette's graphical handler at the CLI's width. The text is returned so that nothing of the
/// rendering can be optimised away.
pub fn render(diagnostic: &Diagnostic) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_context_lines(1);
    let mut text = String::new();
    // The CLI ignores a formatting error (the report is then cut short); so does this.
    let _ = handler.render_report(&mut text, &diagnostic.bounded());
    // The JSON output's fields: the position and the plain message.
    if let Some((file, line, column)) = diagnostic.position() {
        text.push_str(&format!("{file}:{line}:{column}\n"));
    }
    text.push_str(&diagnostic.to_string());
    text
}
