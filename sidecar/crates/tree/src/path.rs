//! Znode path rules, as ZooKeeper's server applies them.
//!
//! ZooKeeper validates paths in three different strengths depending on the operation, and the
//! differences are visible to clients through which error wins (BadArguments vs NoNode):
//! - [`validate`] is `PathUtils.validatePath` (setData, setACL, check, and create *after* the
//!   sequential suffix is appended);
//! - [`split_for_create`] is `PrepRequestProcessor.validatePathForCreate`: only "has a slash and
//!   no NUL", run before the parent lookup;
//! - [`split_for_delete`] is `getParentPathAndValidate`: the same plus the reserved paths.

/// The paths ZooKeeper creates itself and never lets a client delete (`DataTree.isSpecialPath`).
pub const ROOT: &str = "/";
pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

pub fn is_special(path: &str) -> bool {
    matches!(path, ROOT | ZOOKEEPER | QUOTA | CONFIG)
}

/// Why a path was refused; only logged (clients just see BadArguments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty; a znode path starts with '/'")]
    Empty,
    #[error("path must start with '/'")]
    NoLeadingSlash,
    #[error("path must not end with '/'")]
    TrailingSlash,
    #[error("empty node name at character {0}; remove the doubled '/'")]
    EmptySegment(usize),
    #[error("relative segment ('.' or '..') at character {0}; use absolute paths")]
    Relative(usize),
    #[error("NUL character at {0}")]
    Nul(usize),
    #[error("character {0:?} at {1} is not allowed in a znode path")]
    InvalidChar(char, usize),
    #[error("path has no '/' or contains a NUL character")]
    Malformed,
    #[error("{0} is reserved by the server and cannot be deleted")]
    Reserved(String),
}

/// `PathUtils.validatePath`. Positions are counted in characters (ZooKeeper counts UTF-16
/// units; the position only appears in log messages).
pub fn validate(path: &str) -> Result<(), PathError> {
    let chars: Vec<char> = path.chars().collect();
    if chars.is_empty() {
        return Err(PathError::Empty);
    }
    if chars[0] != '/' {
        return Err(PathError::NoLeadingSlash);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == '/' {
        return Err(PathError::TrailingSlash);
    }
    let at_segment_end = |i: usize| i + 1 == chars.len() || chars[i + 1] == '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        if c == '\0' {
            return Err(PathError::Nul(i));
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptySegment(i));
        } else if c == '.' && last == '.' {
            // "/.." as a whole segment; "..." and "a.." are ordinary names.
            if i >= 2 && chars[i - 2] == '/' && at_segment_end(i) {
                return Err(PathError::Relative(i));
            }
        } else if c == '.' {
            if last == '/' && at_segment_end(i) {
                return Err(PathError::Relative(i));
            }
        } else if is_forbidden_char(c) {
            return Err(PathError::InvalidChar(c, i));
        }
    }
    Ok(())
}

/// The characters `PathUtils` rejects. Java tests UTF-16 units, so every character outside the
/// Basic Multilingual Plane (a surrogate pair in Java) is rejected too.
fn is_forbidden_char(c: char) -> bool {
    let u = c as u32;
    (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xe000..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        || u > 0xffff
}

/// `validatePathForCreate`: the parent part of `path` (everything before the last '/', possibly
/// empty for children of the root) and the child's name.
pub fn split_for_create(path: &str) -> Result<(&str, &str), PathError> {
    if path.contains('\0') {
        return Err(PathError::Malformed);
    }
    split_last(path).ok_or(PathError::Malformed)
}

/// `getParentPathAndValidate`, used by delete and deleteContainer.
pub fn split_for_delete(path: &str) -> Result<(&str, &str), PathError> {
    if is_special(path) {
        return Err(PathError::Reserved(path.to_string()));
    }
    split_for_create(path)
}

/// Split at the last '/': ("/a", "b") for "/a/b", ("", "a") for "/a".
pub fn split_last(path: &str) -> Option<(&str, &str)> {
    path.rfind('/').map(|i| (&path[..i], &path[i + 1..]))
}

/// The path a watch on the parent is keyed by: ZooKeeper's parent of "/a" is "", reported as "/".
pub fn parent_for_watch(parent: &str) -> &str {
    if parent.is_empty() { ROOT } else { parent }
}

/// The child path of `parent` named `name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == ROOT || parent.is_empty() {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/zookeeper/quota",
            "/a.b",
            "/...",
            "/a..",
            "/..a",
            "/.a",
            "/a/.b/c",
            "/é",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        assert_eq!(validate(""), Err(PathError::Empty));
        assert_eq!(validate("a"), Err(PathError::NoLeadingSlash));
        assert_eq!(validate("/a/"), Err(PathError::TrailingSlash));
        assert_eq!(validate("//a"), Err(PathError::EmptySegment(1)));
        assert_eq!(validate("/a//b"), Err(PathError::EmptySegment(3)));
        assert_eq!(validate("/."), Err(PathError::Relative(1)));
        assert_eq!(validate("/a/./b"), Err(PathError::Relative(3)));
        assert_eq!(validate("/.."), Err(PathError::Relative(2)));
        assert_eq!(validate("/a/../b"), Err(PathError::Relative(4)));
        assert_eq!(validate("/a\0b"), Err(PathError::Nul(2)));
        assert_eq!(validate("/a\u{1}"), Err(PathError::InvalidChar('\u{1}', 2)));
        assert_eq!(
            validate("/\u{7f}"),
            Err(PathError::InvalidChar('\u{7f}', 1))
        );
        assert_eq!(
            validate("/\u{9f}"),
            Err(PathError::InvalidChar('\u{9f}', 1))
        );
        assert_eq!(
            validate("/\u{e000}"),
            Err(PathError::InvalidChar('\u{e000}', 1))
        );
        assert_eq!(
            validate("/\u{f8ff}"),
            Err(PathError::InvalidChar('\u{f8ff}', 1))
        );
        assert_eq!(
            validate("/\u{fffd}"),
            Err(PathError::InvalidChar('\u{fffd}', 1))
        );
        assert_eq!(validate("/😀"), Err(PathError::InvalidChar('😀', 1)));
        // The boundaries just outside the forbidden ranges are fine.
        assert_eq!(validate("/\u{a0}\u{f900}\u{ffef}"), Ok(()));
    }

    #[test]
    fn create_split_only_needs_a_slash() {
        assert_eq!(split_for_create("/a"), Ok(("", "a")));
        assert_eq!(split_for_create("/a/b"), Ok(("/a", "b")));
        assert_eq!(split_for_create("/a/"), Ok(("/a", "")));
        assert_eq!(split_for_create("a/b"), Ok(("a", "b")));
        assert_eq!(split_for_create("ab"), Err(PathError::Malformed));
        assert_eq!(split_for_create("/a\0"), Err(PathError::Malformed));
    }

    #[test]
    fn delete_split_refuses_reserved_paths() {
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert_eq!(split_for_delete(p), Err(PathError::Reserved(p.into())));
        }
        assert_eq!(split_for_delete("/zookeeper/x"), Ok(("/zookeeper", "x")));
        assert_eq!(split_for_delete("x"), Err(PathError::Malformed));
    }

    #[test]
    fn joins_and_watch_parents() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(parent_for_watch(""), "/");
        assert_eq!(parent_for_watch("/a"), "/a");
    }
}
