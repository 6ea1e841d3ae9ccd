//! Answering a request for held values (a scheduler's `Gather`, a peer's `Get`) within
//! the asker's transfer limit.

use rask_graph::Key;
use rask_graph::oob::INLINE_MAX;
use serde::Serialize;

use super::store::Store;
use crate::wire::{Encoded, Lookup, WireError, encode_message};

/// Small values (at most [`INLINE_MAX`] bytes each) answered in one message at most.
const SMALL_PER_MESSAGE: usize = 4096;

/// The answer to a request for `keys`, as messages that `wrap` builds from `(key,
/// lookup)` pairs, each within `limit` bytes. Large values go one per message; a value
/// whose message would exceed `limit` is answered [`Lookup::Refused`], saying its size
/// and the limit, so the asker fails the work that needs it instead of asking again.
/// Every key is answered exactly once.
pub(super) fn answer<M: Serialize>(
    store: &Store,
    keys: Vec<Key>,
    limit: u64,
    wrap: impl Fn(Vec<(Key, Lookup)>) -> M,
) -> Vec<Encoded> {
    let mut frames = Vec::new();
    let mut small: Vec<(Key, Lookup)> = Vec::new();
    for key in keys {
        let value = store.get(&key);
        match value {
            Some(value) if value.nbytes() > INLINE_MAX => {
                match encode_message(&wrap(vec![(key, Lookup::Found(value))]), limit) {
                    Ok(frame) => frames.push(frame),
                    Err(e) => small.push((key, refusal(&e, limit))),
                }
            }
            other => small.push((key, Lookup::from(other))),
        }
        if small.len() == SMALL_PER_MESSAGE {
            frames.extend(encode_small(std::mem::take(&mut small), limit, &wrap));
        }
    }
    if !small.is_empty() {
        frames.extend(encode_small(small, limit, &wrap));
    }
    frames
}

/// One message for small answers; should even that exceed `limit` (a limit of a few
/// kilobytes), each value is answered alone, and refused if it still does not fit.
fn encode_small<M: Serialize>(
    answers: Vec<(Key, Lookup)>,
    limit: u64,
    wrap: &impl Fn(Vec<(Key, Lookup)>) -> M,
) -> Vec<Encoded> {
    // Small values clone cheaply (a large one shares its memory anyway).
    match encode_message(&wrap(answers.clone()), limit) {
        Ok(frame) => vec![frame],
        Err(_) => answers
            .into_iter()
            .map(|(key, lookup)| {
                encode_message(&wrap(vec![(key, lookup)]), limit).unwrap_or_else(|e| {
                    encode_message(&wrap(vec![(key, refusal(&e, limit))]), u64::MAX)
                        .expect("a refusal of a few bytes encodes")
                })
            })
            .collect(),
    }
}

fn refusal(e: &WireError, limit: u64) -> Lookup {
    Lookup::Refused(match e {
        WireError::Oversized { len, .. } => {
            format!("its message of {len} bytes exceeds the receiver's transfer limit of {limit} bytes")
        }
        other => other.to_string(),
    })
}
