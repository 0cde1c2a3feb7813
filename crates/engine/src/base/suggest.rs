//! "Did you mean ...?": the closest known name to a misspelt one.

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
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
