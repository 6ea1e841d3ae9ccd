//! How a reduction runs: its options ([`ReduceOptions`]: `keepdims`, `split_every`,
//! `ddof`). The axes it runs over are an [`Axes`](crate::array::Axes).

/// Options of a reduction, built like `ReduceOptions::new().keepdims(true).split_every(4).ddof(1)`.
///
/// - `keepdims`: keep the reduced axes with length 1 (default false);
/// - `split_every`: how many partial results a combine task merges, as Dask's: `n` in
///   all, so `max(⌊n^(1/k)⌋, 2)` per axis when reducing over `k` axes (default 16);
/// - `ddof`: `var` and `std` divide by `max(n - ddof, 0)` (default 0).
///
/// ```
/// use rask_collections::array::{from_ndarray, ReduceOptions};
/// let x = from_ndarray(&ndarray::array![[1.0, 2.0], [3.0, 5.0]], [1, 1]).unwrap();
/// let options = ReduceOptions::new().keepdims(true).split_every(4).ddof(1);
/// let var = x.var_with(0, &options).unwrap();
/// assert_eq!(var.shape(), &[1, 2]);
/// assert_eq!(var.compute().unwrap(), ndarray::array![[2.0, 4.5]].into_dyn());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReduceOptions {
    pub(crate) keepdims: bool,
    pub(crate) split_every: Option<usize>,
    pub(crate) ddof: usize,
}

impl ReduceOptions {
    /// The defaults: no keepdims, Dask's split_every (16), ddof 0.
    pub fn new() -> Self {
        ReduceOptions::default()
    }

    /// Keeps the reduced axes with length 1.
    pub fn keepdims(mut self, on: bool) -> Self {
        self.keepdims = on;
        self
    }

    /// Merges up to `n` partial results per combine task (rooted per reduced axis).
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = Some(n);
        self
    }

    /// The "delta degrees of freedom" of `var` and `std`.
    pub fn ddof(mut self, ddof: usize) -> Self {
        self.ddof = ddof;
        self
    }

    /// How many partial results one combine task merges along each of `reduced` axes:
    /// Dask's `max(int(split_every ** (1 / reduced)), 2)`.
    pub(crate) fn fan_in(&self, reduced: usize) -> usize {
        let total = self.split_every.unwrap_or(16) as f64;
        let per_axis = total.powf(1.0 / reduced.max(1) as f64) as usize;
        per_axis.max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_in_is_dasks() {
        let default = ReduceOptions::new();
        assert_eq!((default.fan_in(1), default.fan_in(2), default.fan_in(3), default.fan_in(5)), (16, 4, 2, 2));
        assert_eq!(ReduceOptions::new().split_every(1).fan_in(1), 2);
        assert_eq!(ReduceOptions::new().split_every(100).fan_in(2), 10);
        assert_eq!(ReduceOptions::new().split_every(8).fan_in(0), 8);
    }
}
