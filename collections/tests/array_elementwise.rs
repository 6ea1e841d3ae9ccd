//! Elementwise operations against the same operations done eagerly with ndarray on whole
//! arrays, over random shapes, chunkings and broadcasting; numpy's promotion rules.

use ndarray::{ArrayD, IxDyn, Zip};
use proptest::prelude::*;
use rask_collections::array::{self, Array, from_ndarray, where_};

mod common;
use common::{broadcast_pair, f64_array, f64_data, options};

/// `f` over `a` and `b` broadcast together, eagerly.
fn eager<T: Copy, U>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> U) -> ArrayD<U> {
    let n = a.ndim().max(b.ndim());
    let dim = |s: &[usize], i: usize| if i + s.len() < n { 1 } else { s[i + s.len() - n] };
    let shape: Vec<usize> =
        (0..n).map(|i| if dim(a.shape(), i) == 1 { dim(b.shape(), i) } else { dim(a.shape(), i) }).collect();
    let (av, bv) = (a.broadcast(IxDyn(&shape)).unwrap(), b.broadcast(IxDyn(&shape)).unwrap());
    Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y))
}

fn same(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * x.abs().max(1.0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn binary_operators_broadcast_like_ndarray(((sa, ca), (sb, cb)) in broadcast_pair(), seed in any::<u64>()) {
        let (a, b) = (f64_data(&sa, seed), f64_data(&sb, seed.rotate_left(7)));
        let (x, y) = (from_ndarray(&a, ca).unwrap(), from_ndarray(&b, cb).unwrap());
        let sum = &x + &y;
        for options in options() {
            prop_assert!(same(&sum.compute_with(&options).unwrap(), &eager(&a, &b, |p, q| p + q)));
        }
        prop_assert!(same(&(&x - &y).compute().unwrap(), &eager(&a, &b, |p, q| p - q)));
        prop_assert!(same(&(&x * &y).compute().unwrap(), &eager(&a, &b, |p, q| p * q)));
        prop_assert!(same(&(&x / &y).compute().unwrap(), &eager(&a, &b, |p, q| p / q)));
        prop_assert!(same(&(&x % &y).compute().unwrap(), &eager(&a, &b, |p, q| if q == 0.0 { f64::NAN } else { p - (p / q).floor() * q })), "remainder");
        prop_assert!(same(&x.maximum(&y).unwrap().compute().unwrap(), &eager(&a, &b, f64::max)));
        prop_assert_eq!(x.less(&y).unwrap().compute().unwrap(), eager(&a, &b, |p, q| p < q));
        prop_assert_eq!(x.equal(&y).unwrap().compute().unwrap(), eager(&a, &b, |p, q| p == q));
        let chosen = where_(&x.greater(&y).unwrap(), &x, &y).unwrap();
        prop_assert!(same(&chosen.compute().unwrap(), &eager(&a, &b, |p, q| if p > q { p } else { q })), "where");
    }

    #[test]
    fn unary_functions_and_scalars_match_ndarray((a, chunks) in f64_array()) {
        let x = from_ndarray(&a, chunks).unwrap();
        let expr = ((&x + 1.0) * 2.0 - 0.5).sqrt().unwrap();
        for options in options() {
            prop_assert!(same(&expr.compute_with(&options).unwrap(), &a.mapv(|v| ((v + 1.0) * 2.0 - 0.5).sqrt())));
        }
        prop_assert!(same(&(1.0 - &x).compute().unwrap(), &a.mapv(|v| 1.0 - v)));
        prop_assert!(same(&(2.0 / &x).compute().unwrap(), &a.mapv(|v| 2.0 / v)));
        prop_assert!(same(&(-&x).exp().unwrap().compute().unwrap(), &a.mapv(|v| (-v).exp())));
        prop_assert!(same(&x.abs().unwrap().log().unwrap().compute().unwrap(), &a.mapv(|v| v.abs().ln())));
        prop_assert!(same(&x.clip(-1.0, 2.0).unwrap().compute().unwrap(), &a.mapv(|v| v.clamp(-1.0, 2.0))));
        prop_assert!(same(&x.tanh().unwrap().compute().unwrap(), &a.mapv(f64::tanh)));
        prop_assert!(same(&(&x + &x).compute().unwrap(), &a.mapv(|v| v + v)));
        let ints = x.astype::<i64>().unwrap();
        prop_assert_eq!(ints.compute().unwrap(), a.mapv(|v| v as i64));
        prop_assert_eq!(ints.floor_div(3).unwrap().compute().unwrap(), a.mapv(|v| (v as i64).div_euclid(3)));
        prop_assert_eq!((&ints % -3).compute().unwrap(), a.mapv(|v| { let r = (v as i64).rem_euclid(3); if r == 0 { 0 } else { r - 3 } }));
        prop_assert_eq!(x.isnan().unwrap().compute().unwrap(), a.mapv(f64::is_nan));
    }
}

#[test]
fn promotion_follows_numpy_2() {
    let i = from_ndarray(&ndarray::array![1i32, -7, 3], [2]).unwrap();
    let f = from_ndarray(&ndarray::array![0.5f32, 2.0, 4.0], [2]).unwrap();
    let b = from_ndarray(&ndarray::array![true, false, true], [2]).unwrap();
    let mixed: Array<f64> = &i * &f;
    assert_eq!(mixed.compute().unwrap(), ndarray::array![0.5, -14.0, 12.0].into_dyn());
    let weak: Array<f32> = &f * 2.5;
    assert_eq!(weak.dtype().name(), "float32");
    let overflow: Array<f32> = &f * 1e39;
    assert!(overflow.compute().unwrap().iter().all(|v| v.is_infinite()));
    let kind_up: Array<f64> = &i + 0.5;
    assert_eq!(kind_up.compute().unwrap(), ndarray::array![1.5, -6.5, 3.5].into_dyn());
    let true_div: Array<f64> = &i / 2;
    assert_eq!(true_div.compute().unwrap(), ndarray::array![0.5, -3.5, 1.5].into_dyn());
    let floor: Array<i32> = i.floor_div(2).unwrap();
    assert_eq!(floor.compute().unwrap(), ndarray::array![0, -4, 1].into_dyn());
    assert_eq!((&i % 2).compute().unwrap(), ndarray::array![1, 1, 1].into_dyn());
    let counted: Array<i32> = &b + &i;
    assert_eq!(counted.compute().unwrap(), ndarray::array![2, -7, 4].into_dyn());
    let or: Array<bool> = &b + &b;
    assert_eq!(or.compute().unwrap(), ndarray::array![true, false, true].into_dyn());
    assert_eq!((!&b & true).compute().unwrap(), ndarray::array![false, true, false].into_dyn());
    let zero_d = from_ndarray(&ndarray::arr0(2.0f64), array::ChunkSpec::Whole).unwrap();
    let strong: Array<f64> = &f * &zero_d;
    assert_eq!(strong.dtype().name(), "float64");
    assert_eq!(from_ndarray(&ndarray::array![1.0f64 / 0.0], [1]).unwrap().compute().unwrap()[0], f64::INFINITY);
    assert!((&i / 0).compute().unwrap().iter().all(|v: &f64| v.is_infinite() || v.is_nan()));
    assert_eq!(i.floor_div(0).unwrap().compute().unwrap(), ndarray::array![0, 0, 0].into_dyn());
}

#[test]
fn mistakes_are_errors_naming_the_shapes_and_travel_through_operators() {
    let x = array::zeros::<f64>(&[3, 2], [2, 2]).unwrap();
    let y = array::zeros::<f64>(&[3], [3]).unwrap();
    let e = x.try_add(&y).unwrap_err().to_string();
    assert!(e.contains("[3, 2], [3]"), "{e}");
    let z = (&x + &y) * 2.0 + 1.0;
    assert!(z.error().unwrap().to_string().contains("[3, 2], [3]"));
    assert!(z.sqrt().is_err());
    assert!(z.compute().unwrap_err().to_string().contains("do not broadcast"));
    let b = array::ones::<bool>(&[2], [1]).unwrap();
    assert!(b.try_sub(&b).unwrap_err().to_string().contains("subtract"));
    assert!(b.try_neg().is_err());
    let i = array::full(&[2], [1], 2i64).unwrap();
    let e = i.pow(-1).unwrap().compute().unwrap_err().to_string();
    assert!(e.contains("negative integer powers"), "{e}");
}
