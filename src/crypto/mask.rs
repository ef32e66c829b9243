//! Display masks: enough to recognise a secret, never enough to use it.

/// Shortest secret whose last four characters may be shown.
const MIN_LEN_TO_REVEAL: usize = 12;

/// `****` followed by the last four characters, or only `****` for secrets shorter
/// than twelve characters (where four would give away too much).
pub fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count < MIN_LEN_TO_REVEAL {
        return "****".to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("****{tail}")
}
