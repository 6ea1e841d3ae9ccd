//! Contraction layers: the tasks of a blocked product. Each output block is the sum of
//! products of input block pairs (its *terms*). With at most `split_every` terms one task
//! computes the whole sum; with more, tasks over groups of `split_every` terms make
//! partial blocks that a tree of sums (fan-in `split_every`) adds up. An output block may
//! instead be the transpose of another one (the lower half of a symmetric product).

use std::collections::HashMap;
use std::sync::Arc;

use rask_graph::{ArgSpec, DType, Group, Key, Layer, Op, TaskSpec, Token};

use super::super::chunks::block_indices;
use super::super::elementwise::{BinaryFn, Elementwise, Expr};
use super::super::raw::{RawArray, layer_of_blocks};
use super::super::transpose::TransposeBlock;
use super::product::{BlockProduct, ProductKind};

/// What one output block is.
pub(crate) enum BlockWork {
    /// The sum of products: each term's input keys, in the op's argument order.
    Product {
        /// What each term multiplies.
        kind: ProductKind,
        /// The terms.
        terms: Vec<Vec<Key>>,
    },
    /// The transpose of the output block at this index.
    MirrorOf(Vec<u32>),
}

/// The output of a contraction and what it reads.
pub(crate) struct Contraction<'a> {
    /// The task group, `"matmul"` or `"tensordot"`.
    pub name: &'static str,
    /// The output's token.
    pub token: Token,
    /// The output's shape.
    pub shape: Vec<usize>,
    /// The output's chunks.
    pub chunks: Vec<Vec<usize>>,
    /// The output's element type (the inputs have it too).
    pub dtype: DType,
    /// The arrays the terms read.
    pub inputs: Vec<&'a RawArray>,
    /// The largest number of terms (or partial sums) one task adds.
    pub split_every: usize,
}

/// The contraction's array: `work(index)` says what the output block at `index` is.
pub(crate) fn contract(c: Contraction<'_>, work: impl Fn(&[u32]) -> BlockWork) -> RawArray {
    let numblocks: Vec<usize> = c.chunks.iter().map(Vec::len).collect();
    let mut ops = OpCache::new(c.name);
    let mut dependencies: Vec<Arc<Layer>> = c.inputs.iter().map(|i| i.layer.clone()).collect();
    let partials = Partials { group: Group::new(&format!("{}-partial", c.name)), token: c.token, every: c.split_every };
    let partial_tasks: Vec<TaskSpec> = block_indices(&numblocks)
        .iter()
        .flat_map(|index| match work(index) {
            BlockWork::Product { kind, terms } if terms.len() > c.split_every => {
                partials.tasks(index, kind, terms, &mut ops)
            }
            _ => vec![],
        })
        .collect();
    if !partial_tasks.is_empty() {
        dependencies.push(Layer::new(partial_tasks, dependencies.clone()));
    }
    let output = Group::new(c.name);
    layer_of_blocks(c.name, c.token, c.shape, c.chunks, c.dtype, dependencies, |index| match work(index) {
        BlockWork::MirrorOf(source) => (ops.mirror(), vec![ArgSpec::Key(Key::new(output, c.token, &source))]),
        BlockWork::Product { kind, terms } if terms.len() <= c.split_every => {
            (ops.product(kind), terms.into_iter().flatten().map(ArgSpec::Key).collect())
        }
        BlockWork::Product { terms, .. } => {
            let top = partials.top_keys(index, terms.len());
            (ops.sum(top.len()), top.into_iter().map(ArgSpec::Key).collect())
        }
    })
}

/// The partial sums of the output blocks with more than `every` terms: level 0 multiplies
/// groups of `every` terms, each further level adds groups of `every` blocks of the level
/// below, until at most `every` are left for the output task.
struct Partials {
    group: Group,
    token: Token,
    every: usize,
}

impl Partials {
    /// How many blocks each level has for `terms` terms.
    fn level_sizes(&self, terms: usize) -> Vec<usize> {
        let mut sizes = vec![terms.div_ceil(self.every)];
        while let Some(&last) = sizes.last().filter(|&&n| n > self.every) {
            sizes.push(last.div_ceil(self.every));
        }
        sizes
    }

    fn key(&self, level: usize, index: &[u32], at: usize) -> Key {
        let mut full = index.to_vec();
        full.push(at as u32);
        Key::new(self.group, self.token.combine(&level), &full)
    }

    /// The keys of the last level, which the output task adds.
    fn top_keys(&self, index: &[u32], terms: usize) -> Vec<Key> {
        let sizes = self.level_sizes(terms);
        (0..sizes[sizes.len() - 1]).map(|at| self.key(sizes.len() - 1, index, at)).collect()
    }

    /// Every partial task of the output block at `index`.
    fn tasks(&self, index: &[u32], kind: ProductKind, terms: Vec<Vec<Key>>, ops: &mut OpCache) -> Vec<TaskSpec> {
        let mut tasks: Vec<TaskSpec> = terms
            .chunks(self.every)
            .enumerate()
            .map(|(at, group)| TaskSpec {
                key: self.key(0, index, at),
                op: ops.product(kind),
                args: group.iter().flatten().map(|&k| ArgSpec::Key(k)).collect(),
            })
            .collect();
        let sizes = self.level_sizes(terms.len());
        for (level, pair) in sizes.windows(2).enumerate() {
            for at in 0..pair[1] {
                let below = at * self.every..((at + 1) * self.every).min(pair[0]);
                tasks.push(TaskSpec {
                    key: self.key(level + 1, index, at),
                    op: ops.sum(below.len()),
                    args: below.map(|b| ArgSpec::Key(self.key(level, index, b))).collect(),
                });
            }
        }
        tasks
    }
}

/// The ops of one contraction, each made once.
struct OpCache {
    name: &'static str,
    products: HashMap<ProductKind, Arc<dyn Op>>,
    sums: HashMap<usize, Arc<dyn Op>>,
    mirror: Option<Arc<dyn Op>>,
}

impl OpCache {
    fn new(name: &'static str) -> Self {
        OpCache { name, products: HashMap::new(), sums: HashMap::new(), mirror: None }
    }

    fn product(&mut self, kind: ProductKind) -> Arc<dyn Op> {
        self.products.entry(kind).or_insert_with(|| Arc::new(BlockProduct { kind })).clone()
    }

    /// Adds `n` blocks (`or` for `bool`, wrapping for integers), in place on the first.
    fn sum(&mut self, n: usize) -> Arc<dyn Op> {
        let name = self.name;
        self.sums
            .entry(n)
            .or_insert_with(|| {
                let add = |e: Expr, i: usize| Expr::Binary(BinaryFn::Add, Box::new(e), Box::new(Expr::Input(i as u32)));
                let expr = (1..n).fold(Expr::Input(0), add);
                Arc::new(Elementwise { name: format!("{name}-sum"), expr })
            })
            .clone()
    }

    fn mirror(&mut self) -> Arc<dyn Op> {
        self.mirror.get_or_insert_with(|| Arc::new(TransposeBlock { axes: vec![1, 0] })).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_shrink_by_the_fan_in_until_one_task_can_add_them() {
        let p = Partials { group: Group::new("t"), token: Token(1), every: 2 };
        assert_eq!(p.level_sizes(9), vec![5, 3, 2]);
        assert_eq!(p.level_sizes(3), vec![2]);
        let p = Partials { every: 8, ..p };
        assert_eq!(p.level_sizes(9), vec![2]);
        assert_eq!(p.level_sizes(65), vec![9, 2]);
    }
}
