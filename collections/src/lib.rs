//! # rask-collections
//!
//! The lazy collections users build graphs with, and the compute pipeline they share:
//!
//! - [`array`](mod@array): chunked n-dimensional arrays of ndarray blocks (`dask.array`);
//! - [`dataframe`]: partitioned dataframes of Arrow record batches (`dask.dataframe`);
//! - [`delayed`]: lazy values and function calls for custom work (`dask.delayed`);
//! - [`compute`](mod@compute): materialize, optimize and run any [`Computable`], alone or several
//!   sharing one graph;
//! - [`explain`](mod@explain) and [`visualize`](mod@visualize): the layers and tasks behind
//!   any of them, as a report or a picture (SVG or DOT).
//!
//! ```
//! use rask_collections::{compute, delayed::{delayed, delayed_fn}};
//! let square = delayed_fn("square", |x: i64| x * x);
//! let a = square.call(3);
//! let b = square.call(&a);
//! assert_eq!(compute(&(&a, &b)).unwrap(), (9, 81));
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod array;
pub mod compute;
pub mod dataframe;
pub mod delayed;
mod error;
pub mod explain;
mod published;
pub mod visualize;

pub use compute::{Computable, ComputeOptions, Target, compute, compute_with};
pub use error::{Error, Result};
pub use explain::{Explain, LayerSummary, explain};
