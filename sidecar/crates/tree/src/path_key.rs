//! The key of the node map, ordered so that the children of a node are neighbours.
//!
//! Paths compare by (parent, name) instead of as plain strings: all children of `/a` sort
//! together, right after the key `/a/` would have, and before any grandchild. Listing children
//! is then a range scan, so a node keeps only a child count instead of a set of child names:
//! no name is stored twice, which matters at millions of znodes. The root `/` is ("", "") and
//! sorts first.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

use ref_cast::RefCast;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A borrowed path with the (parent, name) order; `&PathStr` is to [`PathKey`] what `&str` is
/// to `String`, so lookups by `&str` allocate nothing.
#[derive(RefCast, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct PathStr(str);

impl PathStr {
    pub fn new(path: &str) -> &PathStr {
        PathStr::ref_cast(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// (parent, name): "/a/b" is ("/a", "b"), "/a" is ("", "a"), "/" is ("", "").
    pub fn split(&self) -> (&str, &str) {
        match self.0.rfind('/') {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => ("", &self.0),
        }
    }
}

impl Ord for PathStr {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a_parent, a_name) = self.split();
        let (b_parent, b_name) = other.split();
        a_parent.cmp(b_parent).then_with(|| a_name.cmp(b_name))
    }
}

impl PartialOrd for PathStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for PathStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// An owned path in the node map.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PathKey(Box<str>);

impl PathKey {
    pub fn new(path: &str) -> PathKey {
        PathKey(path.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PathKey {
    fn from(path: String) -> Self {
        PathKey(path.into_boxed_str())
    }
}

impl Borrow<PathStr> for PathKey {
    fn borrow(&self) -> &PathStr {
        PathStr::new(&self.0)
    }
}

impl Ord for PathKey {
    fn cmp(&self, other: &Self) -> Ordering {
        PathStr::new(&self.0).cmp(PathStr::new(&other.0))
    }
}

impl PartialOrd for PathKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for PathKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for PathKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PathKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(PathKey::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_into_parent_and_name() {
        assert_eq!(PathStr::new("/").split(), ("", ""));
        assert_eq!(PathStr::new("/a").split(), ("", "a"));
        assert_eq!(PathStr::new("/a/b").split(), ("/a", "b"));
        assert_eq!(PathStr::new("/a/").split(), ("/a", ""));
    }

    #[test]
    fn children_sort_together_before_grandchildren() {
        let mut keys: Vec<PathKey> = ["/a/b/c", "/a/c", "/", "/a", "/b", "/a/b", "/a/b0", "/a0"]
            .into_iter()
            .map(PathKey::new)
            .collect();
        keys.sort();
        let order: Vec<&str> = keys.iter().map(PathKey::as_str).collect();
        assert_eq!(
            order,
            ["/", "/a", "/a0", "/b", "/a/b", "/a/b0", "/a/c", "/a/b/c"]
        );
    }

    proptest! {
        #[test]
        fn the_order_is_total_and_agrees_with_equality(
            a in "(/[a-c]{0,2}){1,3}",
            b in "(/[a-c]{0,2}){1,3}",
            c in "(/[a-c]{0,2}){1,3}",
        ) {
            let (a, b, c) = (PathStr::new(&a), PathStr::new(&b), PathStr::new(&c));
            prop_assert_eq!(a.cmp(b) == Ordering::Equal, a == b);
            prop_assert_eq!(a.cmp(b), b.cmp(a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
        }
    }
}
