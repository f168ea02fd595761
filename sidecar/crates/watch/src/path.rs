//! Ancestor walk for recursive watches.

/// The proper ancestors of a validated ZooKeeper path, nearest first:
/// `/a/b/c` gives `/a/b`, `/a`, `/`; `/` has none. Cutting at the last `/` (rather than testing
/// string prefixes) is what keeps `/ab` from counting as a descendant of `/a`.
pub(crate) fn proper_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        if rest == "/" {
            return None;
        }
        let cut = rest.rfind('/')?;
        rest = if cut == 0 { "/" } else { &rest[..cut] };
        Some(rest)
    })
}

#[cfg(test)]
mod tests {
    use super::proper_ancestors;

    fn ancestors(path: &str) -> Vec<&str> {
        proper_ancestors(path).collect()
    }

    #[test]
    fn walks_up_to_the_root_nearest_first() {
        assert_eq!(ancestors("/a/b/c"), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a"), ["/"]);
    }

    #[test]
    fn root_has_no_ancestors() {
        assert!(ancestors("/").is_empty());
    }

    #[test]
    fn sibling_with_common_prefix_is_not_an_ancestor() {
        assert_eq!(ancestors("/ab/c"), ["/ab", "/"]);
        assert!(!ancestors("/ab").contains(&"/a"));
    }

    #[test]
    fn a_path_without_slash_has_no_ancestors() {
        // The server validates paths first; this only shows the walk terminates.
        assert!(ancestors("").is_empty());
        assert!(ancestors("a").is_empty());
    }
}
