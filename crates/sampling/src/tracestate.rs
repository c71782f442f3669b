//! W3C `tracestate` parsing, and the OpenTelemetry `ot` entry inside it.

/// Most list members a W3C `tracestate` may hold.
const MAX_MEMBERS: usize = 32;

/// The value of `key` in a W3C `tracestate` header value, or `None` when the key is
/// absent or the header is malformed (a bad member, a duplicate key, more than 32
/// members), as OpenTelemetry's parsers treat a malformed header as empty.
pub fn tracestate_value<'a>(tracestate: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    let mut keys: Vec<&str> = Vec::new();
    for member in tracestate.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (member_key, value) = member.split_once('=')?;
        if !valid_key(member_key) || !valid_value(value) || keys.contains(&member_key) {
            return None;
        }
        keys.push(member_key);
        if keys.len() > MAX_MEMBERS {
            return None;
        }
        if member_key == key {
            found = Some(value);
        }
    }
    found
}

/// A W3C key: `simple-key` or `tenant@system`, lowercase.
fn valid_key(key: &str) -> bool {
    match key.split_once('@') {
        Some((tenant, system)) => {
            valid_key_part(tenant, 241, true) && valid_key_part(system, 14, false)
        }
        None => valid_key_part(key, 256, false),
    }
}

fn valid_key_part(part: &str, max_len: usize, may_start_with_digit: bool) -> bool {
    let bytes = part.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let first_ok = first.is_ascii_lowercase() || (may_start_with_digit && first.is_ascii_digit());
    first_ok
        && bytes.len() <= max_len
        && bytes.iter().all(|&byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-*/".contains(&byte)
        })
}

/// A W3C value: up to 256 printable ASCII characters other than `,` and `=`, not ending
/// in a space.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|byte| (0x20..=0x7e).contains(&byte) && byte != b',' && byte != b'=')
}

/// The value of `sub_key` in the OpenTelemetry `ot` entry of a `tracestate`
/// (`ot=th:8;rv:...`), or `None` when absent or malformed.
pub fn ot_value<'a>(tracestate: &'a str, sub_key: &str) -> Option<&'a str> {
    let entry = tracestate_value(tracestate, "ot")?;
    entry.split(';').find_map(|pair| {
        let (key, value) = pair.split_once(':')?;
        (key == sub_key).then_some(value)
    })
}

/// `tracestate` with the `ot` entry's `th` set to `th` (other `ot` sub-keys such as `rv`
/// kept), the `ot` entry moved to the front as W3C asks of a modified member. A malformed
/// `tracestate` is replaced by the `ot` entry alone, as OpenTelemetry treats it as empty.
pub fn with_ot_threshold(tracestate: &str, th: &str) -> String {
    let malformed = tracestate
        .split(',')
        .map(|member| member.trim_matches([' ', '\t']))
        .filter(|member| !member.is_empty())
        .any(|member| {
            member
                .split_once('=')
                .is_none_or(|(key, value)| !valid_key(key) || !valid_value(value))
        });
    let mut sub_keys = vec![format!("th:{th}")];
    let mut others = Vec::new();
    if !malformed && tracestate_value(tracestate, "ot").is_some() || tracestate.trim().is_empty() {
        for member in tracestate
            .split(',')
            .map(|member| member.trim_matches([' ', '\t']))
        {
            match member.split_once('=') {
                Some(("ot", entry)) => sub_keys.extend(
                    entry
                        .split(';')
                        .filter(|pair| !pair.is_empty() && !pair.starts_with("th:"))
                        .map(str::to_owned),
                ),
                Some(_) => others.push(member),
                None => {}
            }
        }
    } else if !malformed {
        others.extend(
            tracestate
                .split(',')
                .map(|member| member.trim_matches([' ', '\t']))
                .filter(|member| !member.is_empty()),
        );
    }
    let mut out = format!("ot={}", sub_keys.join(";"));
    for member in others.into_iter().take(MAX_MEMBERS - 1) {
        out.push(',');
        out.push_str(member);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ot_threshold_is_set_in_front_keeping_everything_else() {
        assert_eq!(with_ot_threshold("", "e"), "ot=th:e");
        assert_eq!(
            with_ot_threshold("rojo=00f0,ot=th:8;rv:00000000000001", "e"),
            "ot=th:e;rv:00000000000001,rojo=00f0"
        );
        assert_eq!(with_ot_threshold("congo=t61", "c"), "ot=th:c,congo=t61");
        assert_eq!(
            with_ot_threshold("A=1", "c"),
            "ot=th:c",
            "malformed replaced"
        );
        assert_eq!(
            ot_value(&with_ot_threshold("congo=t61", "c"), "th"),
            Some("c")
        );
    }

    #[test]
    fn finds_keys_and_skips_blank_members() {
        let state = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,ot=th:8;rv:00000000000001";
        assert_eq!(tracestate_value(state, "congo"), Some("t61rcWkgMzE"));
        assert_eq!(tracestate_value(state, "rojo"), Some("00f067aa0ba902b7"));
        assert_eq!(tracestate_value(state, "absent"), None);
        assert_eq!(ot_value(state, "th"), Some("8"));
        assert_eq!(ot_value(state, "rv"), Some("00000000000001"));
        assert_eq!(
            tracestate_value("tenant@vendor=x", "tenant@vendor"),
            Some("x")
        );
    }

    #[test]
    fn malformed_headers_read_as_empty() {
        assert_eq!(tracestate_value("a=1,a=2", "a"), None, "duplicate key");
        assert_eq!(tracestate_value("A=1", "A"), None, "uppercase key");
        assert_eq!(tracestate_value("a=1,b", "a"), None, "member without =");
        assert_eq!(tracestate_value("a=x=y", "a"), None, "= inside value");
        let too_many: Vec<String> = (0..33).map(|index| format!("k{index}=v")).collect();
        assert_eq!(tracestate_value(&too_many.join(","), "k0"), None);
    }
}
