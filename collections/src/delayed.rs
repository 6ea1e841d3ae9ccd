//! Delayed values and calls: lazy custom work, as `dask.delayed`.
//!
//! [`delayed`] wraps a value; [`Delayed::map`], [`delayed_fn`] and [`DelayedOp`] record
//! calls on delayed values without running them; `compute()` runs the whole graph behind
//! a result. Literal arguments are embedded in the calls that read them, never tasks of
//! their own.
//!
//! Calls of Rust closures get a fresh token each time (like `dask.delayed(pure=False)`):
//! two closures of one type may capture different state, so equal-looking calls are not
//! assumed equal. Calls of registered ops ([`DelayedOp`]) are pure: the same op on the
//! same inputs yields the same key, and is computed once. Closures run on the local
//! schedulers only; registered ops also run in worker processes.
//!
//! ```
//! use rask_collections::delayed::{collect, delayed, delayed_fn};
//!
//! let inc = delayed_fn("inc", |x: i64| x + 1);
//! let add = delayed_fn("add", |a: i64, b: i64| a + b);
//! let total = delayed_fn("total", |xs: Vec<i64>| xs.iter().sum::<i64>());
//!
//! let xs: Vec<_> = (0..10).map(|i| inc.call(i)).collect();
//! let y = add.call(&xs[0], &xs[1]);
//! let z = total.call_list(&xs);
//! assert_eq!(y.compute().unwrap(), 3);
//! assert_eq!(z.compute().unwrap(), 55);
//! assert_eq!(collect(xs).compute().unwrap().len(), 10);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rask_graph::{
    ArgSpec, Args, Data, FnOp, Group, Key, Layer, Op, OpError, TaskOutput, TaskSpec, Token, TokenHasher, Value,
    op_token, ops,
};
use smallvec::SmallVec;

use crate::compute::{Computable, ComputeOptions, Target, compute_with};
use crate::error::{Error, Result};

/// A lazy value of type `T`: a literal, or the output of a task in a graph.
pub struct Delayed<T> {
    target: Target,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed { target: self.target.clone(), _type: PhantomData }
    }
}

impl<T> fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Task { key, .. } => write!(f, "Delayed({key})"),
            Target::Literal(v) => write!(f, "Delayed(literal {v:?})"),
        }
    }
}

impl<T> fmt::Display for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Wraps a value as a delayed literal (no task of its own).
///
/// ```
/// assert_eq!(rask_collections::delayed::delayed(5i64).compute().unwrap(), 5);
/// ```
pub fn delayed<T: Data>(value: T) -> Delayed<T> {
    Delayed { target: Target::Literal(value.into_value()), _type: PhantomData }
}

impl<T: Data> From<T> for Delayed<T> {
    fn from(value: T) -> Self {
        delayed(value)
    }
}

impl<T> From<&Delayed<T>> for Delayed<T> {
    fn from(d: &Delayed<T>) -> Self {
        d.clone()
    }
}

impl<T: Data> Delayed<T> {
    /// The key of the task producing this value (`None` for a literal).
    pub fn key(&self) -> Option<Key> {
        match &self.target {
            Target::Task { key, .. } => Some(*key),
            Target::Literal(_) => None,
        }
    }

    /// What `compute` will evaluate.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Applies `f` lazily. `f` may return a `Result`; its error fails the computation with
    /// the task's key.
    ///
    /// ```
    /// use rask_collections::delayed::delayed;
    /// let x = delayed(20i64).map(|x| x * 2).map(|x| x + 2);
    /// assert_eq!(x.compute().unwrap(), 42);
    /// let bad = delayed(1i64).map(|x| if x > 0 { Err("positive") } else { Ok(x) });
    /// assert!(bad.compute().unwrap_err().to_string().contains("positive"));
    /// ```
    pub fn map<R, F>(&self, f: F) -> Delayed<R::Data>
    where
        R: TaskOutput,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let op: Arc<dyn Op> =
            Arc::new(FnOp::new(callable_name::<F>(), move |args| Callable::<(T,), R>::call_args(&f, args)));
        call(&op, Group::new(callable_name::<F>()), None, [&self.target])
    }

    /// Pairs two delayed values.
    pub fn zip<U: Data>(&self, other: &Delayed<U>) -> Delayed<(T, U)> {
        static LIST: OnceLock<DelayedOp<Value>> = OnceLock::new();
        let list = LIST.get_or_init(|| DelayedOp::new(ops::MakeList));
        list.apply([&self.target, &other.target]).retype()
    }

    /// Computes the value on the default scheduler.
    pub fn compute(&self) -> Result<T> {
        compute_with(self, &ComputeOptions::default())
    }

    /// Computes the value with `options`.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<T> {
        compute_with(self, options)
    }

    /// The graph behind this value (optimized, as it would run), in DOT.
    pub fn to_dot(&self) -> Result<String> {
        crate::visualize::dot(self)
    }

    /// The graph behind this value (optimized, as it would run) as an SVG picture, one
    /// box per task coloured by task group (see [`crate::visualize::svg`]).
    ///
    /// ```
    /// use rask_collections::delayed::delayed;
    /// let svg = delayed(1i64).map(|x| x + 1).map(|x| x * 2).to_svg()?;
    /// assert_eq!(svg.matches("class=\"task\"").count(), 2);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn to_svg(&self) -> Result<String> {
        crate::visualize::svg(self)
    }

    /// Writes a picture of the graph to `path`: SVG for `.svg`, DOT for `.dot`; any other
    /// ending is an error naming the path (see [`crate::visualize::visualize`]).
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::visualize::visualize(self, path)
    }

    /// The layers behind this value and its task counts before and after optimization.
    ///
    /// ```
    /// use rask_collections::delayed::delayed;
    /// let report = delayed(1i64).map(|x| x + 1).explain()?;
    /// assert_eq!((report.layers.len(), report.tasks_after), (1, 1)); // the literal is no task
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn explain(&self) -> Result<crate::explain::Explain> {
        crate::explain::explain(self, rask_graph::OptimizeOptions::default())
    }

    fn retype<U>(self) -> Delayed<U> {
        Delayed { target: self.target, _type: PhantomData }
    }
}

impl<T: Data> Computable for Delayed<T> {
    type Output = T;
    fn targets(&self, targets: &mut Vec<Target>) {
        targets.push(self.target.clone());
    }
    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<T> {
        let value = values.next().expect("one value per delayed");
        T::from_value(value).map_err(|source| Error::Result { what: self.to_string(), source })
    }
}

/// One delayed list of all `items`.
///
/// ```
/// use rask_collections::delayed::{collect, delayed};
/// let xs = collect((0..4i64).map(|i| delayed(i).map(|x| x * x)));
/// assert_eq!(xs.compute().unwrap(), vec![0, 1, 4, 9]);
/// ```
pub fn collect<T: Data>(items: impl IntoIterator<Item = Delayed<T>>) -> Delayed<Vec<T>> {
    static LIST: OnceLock<DelayedOp<Value>> = OnceLock::new();
    let items: Vec<Delayed<T>> = items.into_iter().collect();
    LIST.get_or_init(|| DelayedOp::new(ops::MakeList)).apply(items.iter().map(|d| &d.target)).retype()
}

/// Records a call of `op` on `inputs`: one task whose layer reads the inputs' layers.
/// `token` is `None` for a fresh one.
fn call<'a, T>(
    op: &Arc<dyn Op>,
    group: Group,
    token: Option<Token>,
    inputs: impl IntoIterator<Item = &'a Target>,
) -> Delayed<T> {
    let mut args: SmallVec<[ArgSpec; 4]> = SmallVec::new();
    let mut dependencies = Vec::new();
    let mut hasher = token.map(|t| {
        let mut h = TokenHasher::new();
        std::hash::Hash::hash(&t, &mut h);
        h
    });
    for input in inputs {
        match input {
            Target::Task { key, layer } => {
                args.push(ArgSpec::Key(*key));
                if !dependencies.iter().any(|l| Arc::ptr_eq(l, layer)) {
                    dependencies.push(layer.clone());
                }
                if let Some(h) = hasher.as_mut() {
                    std::hash::Hash::hash(key, h);
                }
            }
            Target::Literal(v) => {
                if let Some(h) = hasher.as_mut() {
                    v.hash_token(h);
                }
                args.push(ArgSpec::Value(v.clone()));
            }
        }
    }
    let token = hasher.map(|h| Token(std::hash::Hasher::finish(&h))).unwrap_or_else(Token::fresh);
    let key = Key::single(group, token);
    let layer = Layer::new(vec![TaskSpec { key, op: op.clone(), args }], dependencies);
    Delayed { target: Target::Task { key, layer }, _type: PhantomData }
}

/// The task group of a Rust callable: a function's own name, `lambda` for a closure.
fn callable_name<F>() -> &'static str {
    let full = std::any::type_name::<F>();
    if full.contains("{{closure}}") {
        return "lambda";
    }
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// A Rust function or closure callable on delayed arguments; see [`delayed_fn`].
///
/// `In` is the tuple of argument types: `Fn(A) -> R` is `Callable<(A,), R>`, and so on up
/// to four arguments. `R` is any [`TaskOutput`] (a [`Data`] value or a `Result`).
pub trait Callable<In, R>: Send + Sync + 'static {
    /// Converts the arguments, calls, and converts the result.
    fn call_args(&self, args: Args) -> Result<Value, OpError>;
}

fn argument<A: Data>(args: &mut impl Iterator<Item = Value>, position: usize, arity: usize) -> Result<A, OpError> {
    let value = args.next().ok_or_else(|| OpError::new(format!("expected {arity} arguments, got {position}")))?;
    A::from_value(value).map_err(|e| OpError::new(format!("argument {}: {e}", position + 1)))
}

macro_rules! callable {
    ($n:literal; $($a:ident $v:ident $i:literal),*) => {
        impl<F, $($a,)* R> Callable<($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            $($a: Data,)*
            R: TaskOutput,
        {
            fn call_args(&self, args: Args) -> Result<Value, OpError> {
                if args.len() != $n {
                    return Err(OpError::new(format!("expected {} arguments, got {}", $n, args.len())));
                }
                let mut args = args.into_iter();
                $(let $v = argument::<$a>(&mut args, $i, $n)?;)*
                self($($v),*).into_task_result()
            }
        }
    };
}
callable!(1; A a 0);
callable!(2; A a 0, B b 1);
callable!(3; A a 0, B b 1, C c 2);
callable!(4; A a 0, B b 1, C c 2, D d 3);

/// A Rust function made callable on delayed values, like `dask.delayed(f)`.
///
/// The function is wrapped once; every call shares it (one op in the graph however many
/// calls there are).
pub struct DelayedFn<In, R> {
    op: Arc<dyn Op>,
    group: Group,
    packed: OnceLock<Arc<dyn Op>>,
    _types: PhantomData<fn(In) -> R>,
}

impl<In, R> fmt::Debug for DelayedFn<In, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DelayedFn({})", self.group)
    }
}

/// Wraps `f` under the task-group name `name` (what progress bars show).
///
/// ```
/// use rask_collections::delayed::{delayed, delayed_fn};
/// let div = delayed_fn("div", |a: i64, b: i64| if b == 0 { Err("division by zero") } else { Ok(a / b) });
/// assert_eq!(div.call(7, 2).compute().unwrap(), 3);
/// let err = div.call(1, delayed(0i64)).compute().unwrap_err();
/// assert!(err.to_string().contains("div") && err.to_string().contains("division by zero"));
/// ```
pub fn delayed_fn<In, R, F: Callable<In, R>>(name: &str, f: F) -> DelayedFn<In, R> {
    DelayedFn {
        op: Arc::new(FnOp::new(name, move |args| f.call_args(args))),
        group: Group::new(name),
        packed: OnceLock::new(),
        _types: PhantomData,
    }
}

macro_rules! delayed_call {
    ($($a:ident $v:ident),*) => {
        impl<$($a: Data,)* R: TaskOutput> DelayedFn<($($a,)*), R> {
            /// Records a call; arguments are delayed values or plain values.
            pub fn call(&self, $($v: impl Into<Delayed<$a>>),*) -> Delayed<R::Data> {
                $(let $v = $v.into();)*
                call(&self.op, self.group, None, [$(&$v.target),*])
            }
        }
    };
}
delayed_call!(A a);
delayed_call!(A a, B b);
delayed_call!(A a, B b, C c);
delayed_call!(A a, B b, C c, D d);

impl<A: Data, R: TaskOutput> DelayedFn<(Vec<A>,), R> {
    /// Calls a function of a `Vec` on a list of delayed values, without a separate task to
    /// build the list (as `dask.delayed(sum)([a, b, c])`).
    pub fn call_list(&self, items: &[Delayed<A>]) -> Delayed<R::Data> {
        let packed = self.packed.get_or_init(|| {
            let inner = self.op.clone();
            Arc::new(FnOp::new(self.group.as_str(), move |args| {
                inner.call(rask_graph::args![Value::List(args.into_iter().collect())])
            }))
        });
        call(packed, self.group, None, items.iter().map(|d| &d.target))
    }
}

/// A registered (serializable) op made callable on delayed values. Its calls are pure:
/// equal inputs give equal keys.
///
/// ```
/// use rask_collections::delayed::{delayed, DelayedOp};
/// use rask_graph::ops;
/// let inc = DelayedOp::<i64>::new(ops::Inc);
/// let a = inc.call([delayed(1i64).into()]);
/// let b = inc.call([delayed(1i64).into()]);
/// assert_eq!(a.key(), b.key());
/// assert_eq!(a.compute().unwrap(), 2);
/// ```
pub struct DelayedOp<T> {
    op: Arc<dyn Op>,
    group: Group,
    token: Token,
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for DelayedOp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DelayedOp({:?})", self.op)
    }
}

/// An input of a [`DelayedOp`] call: any delayed value, or a literal.
#[derive(Clone, Debug)]
pub struct Input(Target);

impl Input {
    /// A literal input.
    pub fn value(value: impl Data) -> Self {
        Input(Target::Literal(value.into_value()))
    }
}

impl<T> From<Delayed<T>> for Input {
    fn from(d: Delayed<T>) -> Self {
        Input(d.target)
    }
}

impl<T> From<&Delayed<T>> for Input {
    fn from(d: &Delayed<T>) -> Self {
        Input(d.target.clone())
    }
}

impl<T: Data> DelayedOp<T> {
    /// Wraps `op`; its task group is the op's name.
    pub fn new(op: impl Op) -> Self {
        Self::from_arc(Arc::new(op))
    }

    /// Wraps a shared op.
    pub fn from_arc(op: Arc<dyn Op>) -> Self {
        let token = op_token(op.as_ref());
        DelayedOp { group: Group::new(op.name()), op, token, _type: PhantomData }
    }

    /// Records a call on `inputs`.
    pub fn call(&self, inputs: impl IntoIterator<Item = Input>) -> Delayed<T> {
        let inputs: SmallVec<[Input; 8]> = inputs.into_iter().collect();
        self.apply(inputs.iter().map(|i| &i.0))
    }

    fn apply<'a>(&self, inputs: impl IntoIterator<Item = &'a Target>) -> Delayed<T> {
        let pure = self.op.is_portable().then_some(self.token);
        call(&self.op, self.group, pure, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(x: i64) -> i64 {
        x
    }

    #[test]
    fn callable_names() {
        assert_eq!(callable_name::<fn(i64) -> i64>(), "fn(i64) -> i64");
        let _ = named(0);
        fn name_of<F>(_: &F) -> &'static str {
            callable_name::<F>()
        }
        assert_eq!(name_of(&named), "named");
        assert_eq!(name_of(&|x: i64| x), "lambda");
    }

    #[test]
    fn closure_calls_get_fresh_keys_and_op_calls_equal_ones() {
        let f = delayed_fn("f", |x: i64| x);
        assert_ne!(f.call(1).key(), f.call(1).key());
        let inc = DelayedOp::<i64>::new(ops::Inc);
        assert_eq!(inc.call([Input::value(1i64)]).key(), inc.call([Input::value(1i64)]).key());
        assert_ne!(inc.call([Input::value(1i64)]).key(), inc.call([Input::value(2i64)]).key());
    }

    #[test]
    fn argument_type_errors_name_the_position() {
        let f = delayed_fn("needs_str", |s: String| s.len() as i64);
        let err = f.call(delayed(String::new()).retype::<String>()).compute().unwrap();
        assert_eq!(err, 0);
        let wrong: Delayed<String> = delayed(5i64).retype();
        let err = f.call(wrong).compute().unwrap_err().to_string();
        assert!(err.contains("argument 1") && err.contains("expected a value of type str"), "{err}");
    }
}
