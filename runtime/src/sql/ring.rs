//! Picks a cache node for a key by consistent hashing, as go-zero's `cache.NewCache` does
//! for several `CacheRedis` nodes: each node gets points on a ring in proportion to its
//! `Weight`, and a key goes to the first point at or after its hash, so adding or removing a
//! node moves only that node's share of keys. Hand-written: it is a sorted vector and a
//! binary search, smaller than any dependency that does it.

/// FNV-1a: stable across Rust versions and machines (std's hasher is not), so every
/// process of a service maps a key to the same node.
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV spreads short, similar keys poorly in the high bits; one mixing round evens them.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Points per unit of weight (go-zero places 100 virtual nodes for weight 100).
const POINTS_PER_WEIGHT: u32 = 1;

/// The ring of nodes `0..n`.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    points: Vec<(u64, usize)>,
}

impl Ring {
    /// `nodes`: each node's name and weight (at least 1 point each).
    pub(super) fn new<'a>(nodes: impl IntoIterator<Item = (&'a str, u32)>) -> Ring {
        let mut points = Vec::new();
        for (i, (name, weight)) in nodes.into_iter().enumerate() {
            for p in 0..(weight * POINTS_PER_WEIGHT).max(1) {
                points.push((hash(format!("{name}#{p}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The node for `key`.
    pub(super) fn node(&self, key: &str) -> usize {
        let h = hash(key.as_bytes());
        let at = self.points.partition_point(|(p, _)| *p < h);
        self.points
            .get(at)
            .or_else(|| self.points.first())
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_by_weight_and_stay_put_when_a_node_joins() {
        let two = Ring::new([("a:6379", 100), ("b:6379", 100)]);
        let keys: Vec<String> = (0..10_000).map(|i| format!("cache:user:id:{i}")).collect();
        let on_a = keys.iter().filter(|k| two.node(k) == 0).count();
        assert!((4_000..6_000).contains(&on_a), "{on_a} of 10000 keys on a");
        let three = Ring::new([("a:6379", 100), ("b:6379", 100), ("c:6379", 100)]);
        let moved = keys.iter().filter(|k| two.node(k) != three.node(k)).count();
        assert!(moved < 4_500, "{moved} of 10000 keys moved");
        for k in &keys {
            let (before, after) = (two.node(k), three.node(k));
            assert!(
                before == after || after == 2,
                "a key moved between old nodes"
            );
        }
        let heavy = Ring::new([("a:6379", 300), ("b:6379", 100)]);
        let on_a = keys.iter().filter(|k| heavy.node(k) == 0).count();
        assert!(on_a > 6_500, "{on_a} of 10000 keys on the weight-300 node");
    }
}
