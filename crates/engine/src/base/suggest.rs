//! "Did you mean ...?": the closest known name to a misspelt one.

/// The longest name (in bytes) that is compared for a suggestion, and the longest candidate.
/// Each comparison costs the product of the two lengths; names longer than this are written by
/// machines or by mistake, not misspelt, and are answered with the list of what exists.
pub const MAX_SUGGESTED: usize = 64;

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > MAX_SUGGESTED {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGESTED)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// `did you mean `x`?` or, with no close candidate, a list of what exists.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> String {
    let mut all: Vec<&str> = candidates.into_iter().collect();
    match closest(name, all.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            all.sort_unstable();
            all.dedup();
            if all.is_empty() {
                format!("there are no {what} to choose from")
            } else if all.len() <= 12 {
                format!("known {what}: {}", all.join(", "))
            } else {
                format!("known {what} include {}, ...", all[..12].join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_too_long_to_be_typos_are_not_compared() {
        // Comparing two names costs the product of their lengths: a template of long, similar
        // names with a broken reference to each took seconds per hundred references.
        let long = |c: char| format!("{}{c}", "x".repeat(MAX_SUGGESTED));
        assert_eq!(closest(&long('a'), [long('b').as_str()]), None);
        assert_eq!(closest("xxxa", [long('a').as_str(), "xxxb"]), Some("xxxb"));
        let short = "y".repeat(MAX_SUGGESTED);
        let typo = format!("{}z", &short[1..]);
        assert_eq!(closest(&typo, [short.as_str()]), Some(short.as_str()));
    }

    #[test]
    fn suggests_plausible_typos_only() {
        let names = ["versioning", "region", "name"];
        assert_eq!(closest("versoning", names), Some("versioning"));
        assert_eq!(closest("regoin", names), Some("region"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(
            did_you_mean("zzz", names, "properties"),
            "known properties: name, region, versioning"
        );
    }
}
