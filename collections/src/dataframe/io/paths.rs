//! Which files a reader reads: plain paths, directories and glob patterns.
//!
//! Each entry of [`Paths`] is a file, a directory (its files with the format's extensions,
//! skipping names that start with `.` or `_` as Dask does) or a glob pattern (`*`, `?`,
//! `[abc]`, `[a-z]`, `[!abc]` in any path component). What a directory or a pattern names is
//! sorted naturally (`part-2` before `part-10`), so that `to_parquet`'s `part-{i}` files
//! read back in partition order; entries keep the order they were given in.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::read_error;
use crate::error::{Error, Result};

/// One or more paths to read: files, directories or glob patterns; see the module docs.
///
/// ```
/// use rask_collections::dataframe::Paths;
/// assert_eq!(Paths::from("data/*.parquet").len(), 1);
/// assert_eq!(Paths::from(vec!["a.csv", "b.csv"]).len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths(Vec<PathBuf>);

impl Paths {
    /// How many entries (before directories and patterns are expanded).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

macro_rules! paths_from_one {
    ($($t:ty),*) => {$(
        impl From<$t> for Paths {
            fn from(path: $t) -> Paths {
                Paths(vec![PathBuf::from(path)])
            }
        }
    )*};
}
paths_from_one!(&str, String, &String, &Path, PathBuf, &PathBuf);

impl<T: Into<PathBuf>> From<Vec<T>> for Paths {
    fn from(paths: Vec<T>) -> Paths {
        Paths(paths.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<PathBuf>, const N: usize> From<[T; N]> for Paths {
    fn from(paths: [T; N]) -> Paths {
        Paths(paths.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<PathBuf> + Clone> From<&[T]> for Paths {
    fn from(paths: &[T]) -> Paths {
        Paths(paths.iter().cloned().map(Into::into).collect())
    }
}

/// The files `paths` names; a directory contributes its files ending in one of
/// `extensions`. A missing path, a bad pattern, or a pattern or directory naming no file
/// is an error naming it.
pub(crate) fn resolve(paths: &Paths, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return Err(Error::Read { path: String::new(), message: "no path given".into() });
    }
    let mut files = Vec::new();
    for path in &paths.0 {
        let text = path.to_string_lossy();
        let mut found = if is_pattern(&text) {
            expand_pattern(path)?
        } else if path.is_dir() {
            directory_files(path, extensions)?
        } else if path.is_file() {
            vec![path.clone()]
        } else {
            return Err(read_error(path, "no such file or directory"));
        };
        if found.is_empty() {
            let what = if is_pattern(&text) {
                "no file matches the pattern".to_string()
            } else {
                format!("the directory holds no {} file", extensions.join("/"))
            };
            return Err(read_error(path, &what));
        }
        found.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        files.extend(found);
    }
    Ok(files)
}

fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The visible files of `dir` whose extension is one of `extensions`.
fn directory_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let entries = list(dir)?;
    Ok(entries
        .into_iter()
        .filter(|p| p.is_file() && !is_hidden(p))
        .filter(|p| p.extension().is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x))))
        .collect())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| read_error(dir, &e.to_string()))?;
    entries.map(|e| e.map(|e| e.path()).map_err(|e| read_error(dir, &e.to_string()))).collect()
}

/// The files matching a glob pattern, walking one directory level per component.
fn expand_pattern(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let components: Vec<String> = pattern.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    for component in components.iter().filter(|c| is_pattern(c)) {
        if !valid_pattern(component) {
            return Err(read_error(pattern, &format!("bad glob pattern: unclosed '[' in {component:?} of {text}")));
        }
    }
    let mut current = vec![PathBuf::new()];
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        for base in current {
            if !is_pattern(component) {
                next.push(base.join(component));
                continue;
            }
            let dir = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base.clone() };
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if wildcard_match(component.as_bytes(), name.as_bytes())
                    && (component.starts_with('.') || !name.starts_with('.'))
                {
                    next.push(base.join(&name));
                }
            }
        }
        current = next.into_iter().filter(|p| if last { p.is_file() } else { p.is_dir() }).collect();
    }
    Ok(current)
}

/// Whether every `[` of a pattern component is closed.
fn valid_pattern(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' {
            match class_end(bytes, i) {
                Some(end) => i = end,
                None => return false,
            }
        }
        i += 1;
    }
    true
}

/// The index of the `]` closing the class that opens at `open`.
fn class_end(pattern: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(pattern.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    if pattern.get(i) == Some(&b']') {
        i += 1; // a leading `]` is a member
    }
    pattern[i..].iter().position(|&b| b == b']').map(|p| i + p)
}

/// Whether `name` matches `pattern` (`*`, `?`, `[...]`), with backtracking on the last `*`.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => {
                class_end(pattern, p).and_then(|end| class_matches(&pattern[p + 1..end], name[n]).then_some(end + 1))
            }
            Some(&c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `byte` is in a class body such as `abc`, `a-z` or `!0-9`.
fn class_matches(class: &[u8], byte: u8) -> bool {
    let (negated, class) = match class.first() {
        Some(b'!' | b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut i = 0;
    let mut found = false;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            found |= (class[i]..=class[i + 2]).contains(&byte);
            i += 3;
        } else {
            found |= class[i] == byte;
            i += 1;
        }
    }
    found != negated
}

/// Compares names with runs of digits as numbers: `part-2` < `part-10`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let order = ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(da.len().cmp(&db.len()));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => (a, b) = (&a[1..], &b[1..]),
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let start = digits.iter().position(|&c| c != b'0').unwrap_or(digits.len());
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(wildcard_match(b"part-*.parquet", b"part-10.parquet"));
        assert!(wildcard_match(b"*", b""));
        assert!(wildcard_match(b"a*b*c", b"axxbyyc"));
        assert!(!wildcard_match(b"a*b*c", b"axxbyy"));
        assert!(wildcard_match(b"part-?.csv", b"part-3.csv"));
        assert!(!wildcard_match(b"part-?.csv", b"part-10.csv"));
        assert!(wildcard_match(b"part-[0-4].csv", b"part-3.csv"));
        assert!(!wildcard_match(b"part-[!0-4].csv", b"part-3.csv"));
        assert!(wildcard_match(b"[]a].csv", b"].csv"));
        assert!(!valid_pattern("part-[0-4.csv"));
    }

    #[test]
    fn names_sort_naturally() {
        let mut names = vec!["part-10.parquet", "part-2.parquet", "part-1.parquet", "part-02.parquet", "a"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, vec!["a", "part-1.parquet", "part-2.parquet", "part-02.parquet", "part-10.parquet"]);
    }
}
