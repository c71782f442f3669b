//! `__path__` globs: `*` and `?` within a path component, `[a-z]` / `[!a]` / `[^a]`
//! classes, `\` escapes, and `**` for any number of directories (as Promtail's
//! doublestar). Compressed files (rotated logs) are never matched:
//! [`is_compressed`].

use std::path::{Path, PathBuf};

/// Extensions of compressed rotated files, never tailed.
pub const COMPRESSED_EXTENSIONS: &[&str] = &["gz", "bz2", "xz", "zst", "zip", "lz4", "tgz", "z"];

/// Whether `path` looks like a compressed file (by extension, case-insensitively).
pub fn is_compressed(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            COMPRESSED_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

/// Whether `name` matches the one-component `pattern` (`*`, `?`, classes, escapes).
pub fn component_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    let (mut pattern_index, mut name_index) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while name_index < name.len() {
        let step = match pattern.get(pattern_index) {
            Some('*') => {
                backtrack = Some((pattern_index, name_index));
                pattern_index += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class_matches(&pattern[pattern_index..], name[name_index]) {
                Some((true, length)) => {
                    pattern_index += length - 1;
                    Some(1)
                }
                _ => None,
            },
            Some('\\') if pattern_index + 1 < pattern.len() => {
                if pattern[pattern_index + 1] == name[name_index] {
                    pattern_index += 1;
                    Some(1)
                } else {
                    None
                }
            }
            Some(character) if *character == name[name_index] => Some(1),
            _ => None,
        };
        match step {
            Some(_) => {
                pattern_index += 1;
                name_index += 1;
            }
            None => match backtrack {
                Some((star, matched)) => {
                    pattern_index = star + 1;
                    name_index = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[pattern_index..]
        .iter()
        .all(|character| *character == '*')
}

/// Matches `character` against the class at the start of `pattern`; the result and
/// the class's length in chars, or `None` for an unclosed class.
fn class_matches(pattern: &[char], character: char) -> Option<(bool, usize)> {
    let mut index = 1;
    let negated = matches!(pattern.get(index), Some('!') | Some('^'));
    if negated {
        index += 1;
    }
    let mut matched = false;
    let mut first = true;
    while index < pattern.len() {
        if pattern[index] == ']' && !first {
            return Some((matched != negated, index + 1));
        }
        first = false;
        let low = pattern[index];
        if index + 2 < pattern.len() && pattern[index + 1] == '-' && pattern[index + 2] != ']' {
            if (low..=pattern[index + 2]).contains(&character) {
                matched = true;
            }
            index += 3;
        } else {
            if low == character {
                matched = true;
            }
            index += 1;
        }
    }
    None
}

fn has_wildcards(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// The regular files matching `pattern`, sorted, without compressed files. Missing
/// or unreadable directories give no files.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let mut components: Vec<String> = Vec::new();
    let mut root = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::RootDir | std::path::Component::Prefix(_) => {
                root.push(component.as_os_str())
            }
            other => components.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if root.as_os_str().is_empty() {
        root.push(".");
    }
    let mut found = Vec::new();
    walk(&root, &components, &mut found, 0);
    found.retain(|file| !is_compressed(file));
    found.sort();
    found.dedup();
    found
}

fn walk(directory: &Path, components: &[String], found: &mut Vec<PathBuf>, depth: usize) {
    // Symlinked directory loops are cut off by depth.
    if depth > 64 {
        return;
    }
    let Some((first, rest)) = components.split_first() else {
        if directory.is_file() {
            found.push(directory.to_owned());
        }
        return;
    };
    if first == "**" {
        walk(directory, rest, found, depth + 1);
        if let Ok(entries) = std::fs::read_dir(directory) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    walk(&entry.path(), components, found, depth + 1);
                }
            }
        }
        return;
    }
    if !has_wildcards(first) {
        let unescaped = first.replace('\\', "");
        let next = directory.join(unescaped);
        if rest.is_empty() {
            if next.is_file() {
                found.push(next);
            }
        } else if next.is_dir() {
            walk(&next, rest, found, depth + 1);
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Hidden entries only match a pattern starting with '.', as shell globs.
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if component_matches(first, name) {
            walk(&entry.path(), rest, found, depth + 1);
        }
    }
}

/// Whether `path` matches `pattern` as a whole (for `__path_exclude__`).
pub fn path_matches(pattern: &str, path: &Path) -> bool {
    let pattern_parts: Vec<&str> = pattern.split('/').filter(|part| !part.is_empty()).collect();
    let path_text = path.to_string_lossy();
    let path_parts: Vec<&str> = path_text
        .split('/')
        .filter(|part| !part.is_empty())
        .collect();
    parts_match(&pattern_parts, &path_parts)
}

fn parts_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| parts_match(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((name, path_rest)) => {
                component_matches(first, name) && parts_match(rest, path_rest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_like_shell_globs() {
        for (pattern, name, expected) in [
            ("*.log", "app.log", true),
            ("*.log", "app.log.1", false),
            ("*.log*", "app.log.1", true),
            ("a?c", "abc", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[^a]x", "zx", true),
            ("\\*", "*", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxx", false),
        ] {
            assert_eq!(
                component_matches(pattern, name),
                expected,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn expand_walks_directories_and_skips_compressed_files() {
        let directory = tempfile::tempdir().expect("tempdir");
        let root = directory.path();
        for file in [
            "a.log",
            "a.log.1",
            "a.log.2.gz",
            "b.log.zst",
            "sub/c.log",
            "sub/deeper/d.log",
            ".hidden.log",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x\n").expect("write");
        }
        let names = |pattern: &str| -> Vec<String> {
            expand(&format!("{}/{pattern}", root.display()))
                .iter()
                .map(|path| {
                    path.strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(names("*.log"), ["a.log"]);
        assert_eq!(names("*.log*"), ["a.log", "a.log.1"]);
        assert_eq!(
            names("**/*.log"),
            ["a.log", "sub/c.log", "sub/deeper/d.log"]
        );
        assert_eq!(names("*/*.log"), ["sub/c.log"]);
        assert_eq!(names("b.log.zst"), Vec::<String>::new());
        assert!(path_matches(
            "/var/log/**/*.gz",
            Path::new("/var/log/a/b/c.gz")
        ));
        assert!(!path_matches("/var/log/*.gz", Path::new("/var/log/a/c.gz")));
    }
}
