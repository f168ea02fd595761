//! ZooKeeper's quota bookkeeping under `/zookeeper/quota` (what zkCli's setquota/listquota use).
//!
//! A quota on `/app` is the node `/zookeeper/quota/app/zookeeper_limits`. While it exists, the
//! server keeps `/zookeeper/quota/app/zookeeper_stats` holding "count=N,bytes=M" for the subtree
//! of `/app`, rewriting that node's data (without touching its Stat) on every create, delete and
//! setData below `/app` (`DataTree.updateQuotaStat`). Quotas are not enforced (ZooKeeper's
//! `zookeeper.enforceQuota` is off by default); only the statistics are kept.
//!
//! This module holds the pure parts: parsing and printing `StatsTrack` text, and ZooKeeper's
//! `PathTrie` prefix rules over path components.

use std::collections::BTreeMap;

pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

/// `PathTrie.split`: the non-blank components of a path.
pub fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.trim().is_empty()).collect()
}

/// The canonical form `PathTrie` reports a path in: "/" + components joined by "/".
pub fn normalize(path: &str) -> String {
    format!("/{}", components(path).join("/"))
}

/// `Quotas.trimQuotaPath`: "/zookeeper/quota/app" -> "/app". ZooKeeper applies it to every
/// parent that merely *starts with* "/zookeeper/quota" (so "/zookeeper/quotaX" gives "X").
pub fn trim_quota_path(quota_path: &str) -> Option<&str> {
    quota_path.get(crate::path::QUOTA.len()..)
}

/// `/zookeeper/quota<path>/zookeeper_stats`.
pub fn stat_path(path: &str) -> String {
    format!("{}{path}/{STAT_NODE}", crate::path::QUOTA)
}

/// `PathTrie.findMaxPrefix` + `getMaxPrefixWithQuota`: the deepest quota path that is a
/// component-wise prefix of `path`, or None (a quota on "/" itself never counts).
pub fn max_prefix<'q>(quotas: impl Iterator<Item = &'q String>, path: &str) -> Option<&'q String> {
    let target = components(path);
    quotas
        .filter(|q| {
            let c = components(q);
            !c.is_empty() && target.starts_with(&c)
        })
        .max_by_key(|q| components(q).len())
}

/// `StatsTrack`: "count=4,bytes=5" optionally followed by "=;key=value" pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    pub fn new(count: i64, bytes: i64) -> Self {
        let mut s = StatsTrack::default();
        s.values.insert("count".into(), count);
        s.values.insert("bytes".into(), bytes);
        s
    }

    /// Parse the text ZooKeeper writes. Returns None where ZooKeeper's parser would throw (a pair
    /// without '=' or a non-numeric value); the caller then leaves the node alone.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(data);
        let mut s = StatsTrack::default();
        if text.is_empty() {
            return Some(s);
        }
        // Java's split("[,;]+"): runs of separators count once, trailing ones vanish, and a
        // leading one yields an empty pair (which ZooKeeper's parser then chokes on).
        for (i, pair) in text.split([',', ';']).enumerate() {
            if pair.is_empty() && i > 0 {
                continue;
            }
            // Java's split("=") drops trailing empty parts: "bytes=5=" is ["bytes", "5"], and
            // "count=" is ["count"], which ZooKeeper fails on.
            let mut parts: Vec<&str> = pair.split('=').collect();
            while parts.last().is_some_and(|p| p.is_empty()) {
                parts.pop();
            }
            let [key, value, ..] = parts.as_slice() else {
                return None;
            };
            let value = if value.is_empty() {
                -1
            } else {
                value.parse::<i64>().ok()?
            };
            s.values.insert((*key).to_string(), value);
        }
        Some(s)
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    pub fn count(&self) -> i64 {
        self.get("count")
    }

    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }

    pub fn add(&mut self, count: i64, bytes: i64) {
        let (c, b) = (self.count() + count, self.bytes() + bytes);
        self.values.insert("count".into(), c);
        self.values.insert("bytes".into(), b);
    }

    /// `StatsTrack.toString`: count and bytes first, then "=" and the other keys sorted, each
    /// after a ';'.
    pub fn to_text(&self) -> String {
        let mut out = format!("count={},bytes={}", self.count(), self.bytes());
        let extra: Vec<_> = self
            .values
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "bytes")
            .collect();
        if !extra.is_empty() {
            out.push('=');
            for (k, v) in extra {
                out.push_str(&format!(";{k}={v}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_round_trips_zookeeper_forms() {
        assert_eq!(StatsTrack::new(3, 10).to_text(), "count=3,bytes=10");
        let limits =
            StatsTrack::parse(b"count=4,bytes=5=;byteHardLimit=10;countHardLimit=10").unwrap();
        assert_eq!((limits.count(), limits.bytes()), (4, 5));
        assert_eq!(
            limits.to_text(),
            "count=4,bytes=5=;byteHardLimit=10;countHardLimit=10"
        );
        let mut s = StatsTrack::parse(b"count=1,bytes=-1").unwrap();
        s.add(2, 7);
        assert_eq!(s.to_text(), "count=3,bytes=6");
        assert_eq!(
            StatsTrack::parse(b"count==3,,bytes=2;").unwrap().count(),
            -1
        );
        assert_eq!(StatsTrack::parse(b"count=,bytes=2"), None);
        assert_eq!(StatsTrack::parse(b",count=1"), None);
        assert_eq!(
            StatsTrack::parse(b"").unwrap().to_text(),
            "count=-1,bytes=-1"
        );
        assert_eq!(StatsTrack::parse(b"garbage"), None);
        assert_eq!(StatsTrack::parse(b"count=x"), None);
    }

    #[test]
    fn prefixes_match_whole_components() {
        let quotas = ["/a".to_string(), "/a/b".to_string(), "/ab".to_string()];
        assert_eq!(max_prefix(quotas.iter(), "/a/b/c"), Some(&quotas[1]));
        assert_eq!(max_prefix(quotas.iter(), "/a/bc"), Some(&quotas[0]));
        assert_eq!(max_prefix(quotas.iter(), "/a"), Some(&quotas[0]));
        assert_eq!(max_prefix(quotas.iter(), "/abc"), None);
        assert_eq!(max_prefix(["/".to_string()].iter(), "/x"), None);
        assert_eq!(normalize("//a/ /b/"), "/a/b");
        assert_eq!(trim_quota_path("/zookeeper/quota/app"), Some("/app"));
        assert_eq!(trim_quota_path("/zookeeper/quotaX"), Some("X"));
        assert_eq!(trim_quota_path("/zookeeper"), None);
        assert_eq!(stat_path("/app"), "/zookeeper/quota/app/zookeeper_stats");
    }
}
