//! Protocol-version compatibility (`messages.md` §2.1).

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: &str = "1.1";

/// The academy-py feature level we implement, sent in `academy_version`.
pub const ACADEMY_VERSION: &str = "1.0.0";

/// The `academy_version` assumed when a header lacks the key.
pub const DEFAULT_ACADEMY_VERSION: &str = "0.5.0";

/// True iff `version` is a PEP 440 version with major 1 and no local segment,
/// which is academy-py's `check_version` against `"1.1"`.
///
/// Python raises on text that is not PEP 440 (which kills its listener); we
/// answer "incompatible" instead.
///
/// ```
/// use academy_exchange::message::is_compatible_version;
/// assert!(is_compatible_version(Some("1")));
/// assert!(is_compatible_version(Some("1.5")));
/// assert!(!is_compatible_version(Some("2")));
/// assert!(!is_compatible_version(Some("1.1+local")));
/// assert!(!is_compatible_version(Some("abc")));
/// assert!(!is_compatible_version(None));
/// ```
pub fn is_compatible_version(version: Option<&str>) -> bool {
    match version.and_then(parse_pep440) {
        Some(v) => v.major == 1 && !v.has_local,
        None => false,
    }
}

struct Pep440 {
    major: u64,
    has_local: bool,
}

/// A deliberately small PEP 440 parser: epoch, release, pre/post/dev suffixes
/// and local segment, with the spec's normalisations (case, separators, `v`).
fn parse_pep440(text: &str) -> Option<Pep440> {
    let s = text.trim().to_ascii_lowercase();
    let (public, local) = match s.split_once('+') {
        Some((p, l)) => (p.to_string(), Some(l.to_string())),
        None => (s, None),
    };
    if let Some(l) = &local {
        let ok = !l.is_empty()
            && l.split(['.', '-', '_'])
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            return None;
        }
    }
    let mut rest = public.strip_prefix('v').unwrap_or(&public);
    if let Some((epoch, after)) = rest.split_once('!') {
        if epoch.is_empty() || !epoch.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        rest = after;
    }
    // Release: digits separated by dots.
    let release_end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let release = rest[..release_end].trim_end_matches('.');
    let mut suffix = &rest[release.len()..];
    if release.is_empty() || release.split('.').any(|p| p.is_empty()) {
        return None;
    }
    let major: u64 = release.split('.').next()?.parse().ok()?;
    // Suffixes, in order: pre, post, dev; each optional.
    let pre = ["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"];
    suffix = eat_segment(suffix, &pre, false)?;
    suffix = eat_segment(suffix, &["post", "rev", "r"], true)?;
    suffix = eat_segment(suffix, &["dev"], false)?;
    if !suffix.is_empty() {
        return None;
    }
    Some(Pep440 {
        major,
        has_local: local.is_some(),
    })
}

/// Consumes one optional `[sep]word[sep][digits]` segment; `implicit_post`
/// also accepts the `-N` post-release form.
fn eat_segment<'a>(s: &'a str, words: &[&str], implicit_post: bool) -> Option<&'a str> {
    if s.is_empty() {
        return Some(s);
    }
    if implicit_post && let Some(d) = s.strip_prefix('-') {
        let n = d.chars().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            return Some(&d[n..]);
        }
    }
    let t = s.strip_prefix(['.', '-', '_']).unwrap_or(s);
    for w in words {
        if let Some(after) = t.strip_prefix(w) {
            let after2 = after.strip_prefix(['.', '-', '_']).unwrap_or(after);
            let n = after2.chars().take_while(|c| c.is_ascii_digit()).count();
            if n > 0 {
                return Some(&after2[n..]);
            }
            return Some(after);
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_table_from_spec() {
        for v in [
            "1",
            "1.1",
            "1.5",
            "1.0.0",
            "1.1rc1",
            "1.0.post2",
            "1.0.dev3",
            "v1.2",
        ] {
            assert!(is_compatible_version(Some(v)), "{v}");
        }
        for v in [
            "2",
            "0.9",
            "1000.0.0",
            "1+local",
            "1.1+local",
            "abc",
            "",
            "1.x",
            "1..2",
        ] {
            assert!(!is_compatible_version(Some(v)), "{v}");
        }
    }
}
