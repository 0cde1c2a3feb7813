//! Stack identity: names users choose and the suffix that makes cloud names unique.

use rand::Rng;

use crate::diagnostic::Diagnostic;

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

/// A new random suffix: six lowercase letters and digits.
pub fn new_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
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
    fn suffixes_are_short_and_safe() {
        let s = new_suffix();
        assert_eq!(s.len(), 6);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
