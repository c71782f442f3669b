//! File service discovery content (`discovery/file/file.go`): which paths are
//! allowed, how a pattern expands to files, and how a file becomes target groups.
//! Watching and re-reading (on change and every `refresh_interval`, keeping a
//! file's previous groups when it fails to parse) is the caller's job.

use std::path::{Path, PathBuf};

use crate::target::TargetGroup;

/// Label file SD adds to every group: the file the group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why a file SD file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    /// The file or its directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a list of target groups.
    #[error("{file}: {message}")]
    Parse {
        /// The file name as configured.
        file: String,
        /// What is wrong (with line and column for YAML).
        message: String,
    },
    /// The extension is not `.json`, `.yml` or `.yaml`.
    #[error("{0}: file discovery reads only .json, .yml and .yaml files")]
    UnknownExtension(String),
    /// The pattern has wildcards outside its last path component.
    #[error("{0}: wildcards are supported only in the last path component")]
    UnsupportedPattern(String),
}

/// Whether `pattern` is allowed in `file_sd_configs.files`: Prometheus's
/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$` (one `*` run, only in the
/// last path component; a known extension).
pub fn is_valid_file_sd_pattern(pattern: &str) -> bool {
    let Some((stem, extension)) = pattern.rsplit_once('.') else {
        return false;
    };
    if !matches!(extension, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(star) => !stem[star..].contains('/'),
    }
}

/// Expands `pattern` like Go's `filepath.Glob`: without wildcards, the path
/// itself if it exists; otherwise the entries of its directory whose names
/// match the last component (`*`, `?`, `[a-z]`, `[^a]`, `\` escapes), sorted.
/// A missing directory gives no files.
pub fn expand_pattern(pattern: &str) -> Result<Vec<PathBuf>, FileSdError> {
    let path = Path::new(pattern);
    if !has_wildcards(pattern) {
        return Ok(if path.symlink_metadata().is_ok() {
            vec![path.to_owned()]
        } else {
            Vec::new()
        });
    }
    let file_pattern = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if has_wildcards(&directory.to_string_lossy()) {
        return Err(FileSdError::UnsupportedPattern(pattern.to_owned()));
    }
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FileSdError::Read {
                path: directory,
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| glob_match(&file_pattern, name))
        .collect();
    names.sort();
    let prefix = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty());
    Ok(names
        .into_iter()
        .map(|name| match prefix {
            Some(parent) => parent.join(name),
            None => PathBuf::from(name),
        })
        .collect())
}

fn has_wildcards(text: &str) -> bool {
    text.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Match` for one path component.
fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

fn match_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| match_from(&pattern[1..], &name[skip..])),
        Some(_) if name.is_empty() => false,
        Some('?') => match_from(&pattern[1..], &name[1..]),
        Some('[') => match match_class(&pattern[1..], name[0]) {
            Some((true, rest)) => match_from(rest, &name[1..]),
            _ => false,
        },
        Some('\\') if pattern.len() > 1 => {
            pattern[1] == name[0] && match_from(&pattern[2..], &name[1..])
        }
        Some(literal) => *literal == name[0] && match_from(&pattern[1..], &name[1..]),
    }
}

/// Matches `character` against a class body (after `[`); returns whether it
/// matched and the pattern after `]`, or `None` for a malformed class.
fn match_class(body: &[char], character: char) -> Option<(bool, &[char])> {
    let (negated, mut rest) = match body.first() {
        Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        match rest.first() {
            None => return None,
            Some(']') if !first => return Some((matched != negated, &rest[1..])),
            _ => {}
        }
        first = false;
        let (low, after_low) = class_char(rest)?;
        let (high, after_range) = match after_low {
            ['-', tail @ ..] => class_char(tail)?,
            _ => (low, after_low),
        };
        if low <= character && character <= high {
            matched = true;
        }
        rest = after_range;
    }
}

/// Go's `getEsc`: one class character; a bare `-` or `]` is malformed.
fn class_char(text: &[char]) -> Option<(char, &[char])> {
    match text {
        [] | ['-', ..] | [']', ..] | ['\\'] => None,
        ['\\', escaped, rest @ ..] => Some((*escaped, rest)),
        [character, rest @ ..] => Some((*character, rest)),
    }
}

/// Parses a file SD file's content into target groups. `file` is the path as
/// configured (it becomes each group's `source` `<file>:<index>` and its
/// `__meta_filepath` label); its extension picks JSON or YAML. Unknown keys,
/// `null` groups and empty label names are errors, as in Prometheus.
pub fn parse_target_groups(content: &str, file: &str) -> Result<Vec<TargetGroup>, FileSdError> {
    let extension = Path::new(file)
        .extension()
        .map(|extension| extension.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let parse_error = |message: String| FileSdError::Parse {
        file: file.to_owned(),
        message,
    };
    let groups: Option<Vec<Option<TargetGroup>>> = match extension.as_str() {
        "json" => serde_json::from_str(content).map_err(|error| parse_error(error.to_string()))?,
        "yml" | "yaml" => {
            if content.trim().is_empty() {
                None
            } else {
                serde_saphyr::from_str(content).map_err(|error| {
                    let message = crate::config::yaml_message(&error);
                    match error.location() {
                        Some(location) => parse_error(format!(
                            "line {} column {}: {message}",
                            location.line(),
                            location.column()
                        )),
                        None => parse_error(message),
                    }
                })?
            }
        }
        _ => return Err(FileSdError::UnknownExtension(file.to_owned())),
    };
    crate::target::finish_groups(groups.unwrap_or_default(), file, FILEPATH_LABEL)
        .map_err(parse_error)
}

/// Reads and parses one file SD file (see [`parse_target_groups`]).
pub fn read_target_groups(file: &Path) -> Result<Vec<TargetGroup>, FileSdError> {
    let content = std::fs::read_to_string(file).map_err(|source| FileSdError::Read {
        path: file.to_owned(),
        source,
    })?;
    parse_target_groups(&content, &file.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_patterns_follow_prometheus() {
        for valid in [
            "targets.json",
            "/etc/sd/*.yml",
            "dir/app-*.YAML",
            "a/b/c.yaml",
            "x*y.json",
        ] {
            assert!(is_valid_file_sd_pattern(valid), "{valid}");
        }
        for invalid in [
            "targets.txt",
            "*/x.json",
            "a*/b.json",
            "targets",
            "a.json.bak",
        ] {
            assert!(!is_valid_file_sd_pattern(invalid), "{invalid}");
        }
    }

    #[test]
    fn glob_components_match_like_go() {
        assert!(glob_match("*.json", "a.json"));
        assert!(glob_match("*.json", ".json"));
        assert!(!glob_match("*.json", "a.yaml"));
        assert!(glob_match("app-?.yml", "app-1.yml"));
        assert!(!glob_match("app-?.yml", "app-12.yml"));
        assert!(glob_match("[a-c]*.json", "b1.json"));
        assert!(!glob_match("[^a-c]*.json", "b1.json"));
        assert!(glob_match(r"\*.json", "*.json"));
        assert!(!glob_match(r"\*.json", "a.json"));
        assert!(!glob_match("[a-", "a"));
    }

    #[test]
    fn groups_get_source_and_filepath_label() {
        let groups = parse_target_groups(
            r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#,
            "/sd/x.json",
        )
        .expect("valid json");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "/sd/x.json:0");
        assert_eq!(groups[1].source, "/sd/x.json:1");
        assert_eq!(groups[0].targets[1]["__address__"], "b:2");
        assert_eq!(groups[0].labels["env"], "prod");
        assert_eq!(groups[1].labels[FILEPATH_LABEL], "/sd/x.json");

        let yaml = "- targets: ['c:3']\n  labels:\n    team: core\n";
        let groups = parse_target_groups(yaml, "y.yml").expect("valid yaml");
        assert_eq!(groups[0].targets[0]["__address__"], "c:3");
        assert_eq!(groups[0].labels["team"], "core");
        assert!(
            parse_target_groups("", "empty.yaml")
                .expect("empty")
                .is_empty()
        );
        assert!(
            parse_target_groups("null", "n.json")
                .expect("null")
                .is_empty()
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let cases = [
            (r#"[{"targets": ["a:1"], "extra": 1}]"#, "u.json"),
            (r#"[null]"#, "n.json"),
            (r#"[{"labels": {"": "x"}}]"#, "e.json"),
            (r#"[{"labels": {"a": 1}}]"#, "num.json"),
            ("- targets: ['a:1']\n  extra: 1\n", "u.yml"),
            ("- ~\n", "n.yaml"),
            ("{}", "m.json"),
        ];
        for (content, file) in cases {
            let error = parse_target_groups(content, file).expect_err(file);
            assert!(error.to_string().starts_with(file), "{error}");
        }
        assert!(matches!(
            parse_target_groups("[]", "x.txt"),
            Err(FileSdError::UnknownExtension(_))
        ));
    }

    #[test]
    fn patterns_expand_to_sorted_existing_files() {
        let directory = std::env::temp_dir().join(format!("weft-file-sd-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        for name in ["b.json", "a.json", "c.yml", ".h.json"] {
            std::fs::write(directory.join(name), "[]").expect("write");
        }
        let pattern = format!("{}/*.json", directory.display());
        let files = expand_pattern(&pattern).expect("expands");
        let names: Vec<String> = files
            .iter()
            .map(|file| {
                file.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, [".h.json", "a.json", "b.json"]);
        let exact = format!("{}/c.yml", directory.display());
        assert_eq!(expand_pattern(&exact).expect("exact").len(), 1);
        let missing = format!("{}/missing/*.json", directory.display());
        assert!(expand_pattern(&missing).expect("missing dir").is_empty());
        let _ = std::fs::remove_dir_all(&directory);
    }
}
