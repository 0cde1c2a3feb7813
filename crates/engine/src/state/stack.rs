//! Stack identity: names users choose and the suffix that makes cloud names unique.

use std::path::{Path, PathBuf};

use rand::Rng;

use crate::base::diagnostic::Diagnostic;
use crate::base::fsio;
use crate::state::StateError;

/// Checks a stack name: `^[a-z][a-z0-9-]{1,20}$`, since it ends up in cloud resource names
/// (S3 buckets, IAM roles) whose rules are the strictest of all.
pub fn validate_name(name: &str) -> Result<(), Diagnostic> {
    let ok = (2..=21).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Diagnostic::new(
            "stack::invalid_name",
            format!("`{name}` is not a valid stack name"),
        )
        .help(
            "a stack name is 2 to 21 characters: a lowercase letter, then lowercase letters, \
             digits or `-` (it becomes part of cloud resource names)",
        ))
    }
}

/// A checked stack name: the only way from a name (typed, or read from a file, an index, a tag
/// or a remote backend) to a stack's directory. A name that passes [`validate_name`] is one
/// plain path component, so a stack's files are always inside the stacks directory they are
/// joined to: `../other-home/stacks/x` never reaches another home.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackName(String);

impl StackName {
    pub fn new(name: &str) -> Result<StackName, Diagnostic> {
        validate_name(name)?;
        Ok(StackName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This stack's directory in `stacks` (a home's `stacks/`, or a `file://` backend).
    pub fn dir_in(&self, stacks: &Path) -> PathBuf {
        stacks.join(&self.0)
    }
}

impl std::fmt::Display for StackName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new random suffix: six lowercase letters and digits.
pub fn new_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The file in a stack's directory that holds the suffix reserved for a stack not deployed yet.
pub const SUFFIX_FILE: &str = "suffix";

/// The suffix of the stack whose directory is `dir` before its first deploy: the one reserved
/// by an earlier plan or deploy, else a new one, reserved now (0600, written atomically). A plan
/// therefore shows the names the deploy creates; the state takes the suffix over once written.
pub fn reserve_suffix(dir: &Path) -> Result<String, StateError> {
    let path = dir.join(SUFFIX_FILE);
    let io = |source| StateError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if is_suffix(text.trim()) => return Ok(text.trim().to_owned()),
        // Damaged: nothing was created with it yet (a state would hold it), so draw again.
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    crate::base::fsio::create_private_dir(dir).map_err(io)?;
    let suffix = new_suffix();
    fsio::write_atomic(&path, suffix.as_bytes()).map_err(io)?;
    Ok(suffix)
}

fn is_suffix(s: &str) -> bool {
    s.len() == 6
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cloud_naming_rules() {
        for good in ["dev", "exp-42", "a1", "staging-eu-central-1"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Dev",
            "1dev",
            "dev_1",
            "a-very-long-stack-name-x",
            "dév",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn traversal_is_not_a_name() {
        for bad in [
            "..",
            "../x",
            "../../other/stacks/x",
            "a/b",
            "/etc",
            ".index.json",
            "a\0b",
        ] {
            assert!(StackName::new(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a user, a file or a tag calls a stack, the directory it reaches is a direct
        /// child of the stacks directory, or there is none.
        #[test]
        fn arbitrary_names_never_escape_the_stacks_directory(name in "\\PC{0,30}|[a-z./-]{0,25}") {
            let stacks = Path::new("/home/u/.stackform/stacks");
            if let Ok(n) = StackName::new(&name) {
                let dir = n.dir_in(stacks);
                proptest::prop_assert_eq!(dir.parent(), Some(stacks));
                let mut parts = dir.strip_prefix(stacks).unwrap().components();
                proptest::prop_assert!(matches!(
                    parts.next(),
                    Some(std::path::Component::Normal(_))
                ));
                proptest::prop_assert!(parts.next().is_none());
            }
        }
    }

    #[test]
    fn a_reserved_suffix_is_kept_until_the_stack_is_written() {
        let dir = std::env::temp_dir().join(format!("stackform-suffix-{}", new_suffix()));
        let first = reserve_suffix(&dir).unwrap();
        assert_eq!(
            reserve_suffix(&dir).unwrap(),
            first,
            "a second plan shows the same names"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SUFFIX_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "nobody else lists the stack's files: {mode:o}"
            );
        }
        std::fs::write(dir.join(SUFFIX_FILE), "not a suffix!").unwrap();
        let again = reserve_suffix(&dir).unwrap();
        assert!(
            is_suffix(&again),
            "a damaged reservation is drawn again: {again}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn suffixes_are_short_and_safe() {
        let s = new_suffix();
        assert_eq!(s.len(), 6);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
