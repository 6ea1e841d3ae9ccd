//! Tokens: the deterministic part of a task's name.
//!
//! A [`Token`] is a 64-bit hash of what a task computes (its operation and inputs), so
//! building the same expression twice yields the same keys, and tasks that compute the
//! same thing are shared (common-subexpression elimination for free). Operations whose
//! result is not a pure function of their inputs (closures, random numbers without a
//! seed) take a [`Token::fresh`] one instead, as `dask.delayed(pure=False)` does.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The 64-bit hash that names what a task computes.
///
/// ```
/// use rask_graph::Token;
/// assert_eq!(Token::of(&("add", 1, 2)), Token::of(&("add", 1, 2)));
/// assert_ne!(Token::of(&("add", 1, 2)), Token::of(&("add", 2, 1)));
/// assert_ne!(Token::fresh(), Token::fresh());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Token(pub u64);

/// Seed for fresh tokens: differs from process to process so that fresh tokens made by two
/// clients of one cluster do not collide.
static FRESH_SEED: LazyLock<u64> =
    LazyLock::new(|| std::collections::hash_map::RandomState::new().hash_one(std::process::id()));
static FRESH_COUNTER: AtomicU64 = AtomicU64::new(1);

impl Token {
    /// The deterministic token of a hashable description of a computation.
    ///
    /// The hash is SipHash with fixed keys, so the same value gives the same token in
    /// every process built from the same source.
    pub fn of<T: Hash + ?Sized>(value: &T) -> Token {
        let mut hasher = TokenHasher::new();
        value.hash(&mut hasher);
        Token(hasher.finish())
    }

    /// A token unique to this call, for computations that are not pure.
    pub fn fresh() -> Token {
        let n = FRESH_COUNTER.fetch_add(1, Ordering::Relaxed);
        Token(mix(n ^ *FRESH_SEED))
    }

    /// Combines this token with more data into a new deterministic token.
    pub fn combine<T: Hash + ?Sized>(self, value: &T) -> Token {
        let mut hasher = TokenHasher::new();
        self.0.hash(&mut hasher);
        value.hash(&mut hasher);
        Token(hasher.finish())
    }
}

/// The hasher behind [`Token::of`]: SipHash-1-3 with zero keys (stable within a build).
#[derive(Debug)]
pub struct TokenHasher(std::collections::hash_map::DefaultHasher);

impl TokenHasher {
    /// A hasher in its initial state.
    pub fn new() -> Self {
        TokenHasher(std::collections::hash_map::DefaultHasher::new())
    }
}

impl Default for TokenHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
}

/// A bijective 64-bit mixer (splitmix64's finalizer): spreads counter values over all bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tokens_are_unique() {
        let tokens: std::collections::HashSet<_> = (0..10_000).map(|_| Token::fresh()).collect();
        assert_eq!(tokens.len(), 10_000);
    }

    #[test]
    fn combine_depends_on_both_parts() {
        let t = Token::of("x");
        assert_ne!(t.combine(&1), t.combine(&2));
        assert_ne!(t.combine(&1), Token::of("y").combine(&1));
        assert_eq!(t.combine(&1), Token::of("x").combine(&1));
    }
}
