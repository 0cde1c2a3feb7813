//! The template language: YAML with locations, the typed template, the `${...}` expression
//! language, the schemas of resource types and components (the `Catalog`), and the static checks
//! of a template against them.
//!
//! The catalog lives here rather than with the provider contract because checking a template is
//! a question about the language (does this property exist, is this a string) that needs no
//! provider to answer.
//!
//! May import: `base`.

pub mod check;
pub mod expr;
pub mod schema;
pub mod taint;
pub mod template;
pub mod yaml;
