//! Byte views of element slices: the only unsafe code of the out-of-band encoding.
//!
//! Buffers travel as the host's bytes; rask's wire format is little-endian, so these views
//! are the wire bytes on the little-endian hosts rask supports.

use std::mem::{ManuallyDrop, MaybeUninit, size_of};

/// Element types stored without padding whose every bit pattern is a valid value.
///
/// # Safety
///
/// Implementors must have no padding bytes and accept any bit pattern.
pub(crate) unsafe trait Plain: Copy + Default + 'static {}

// SAFETY: integers and floats have no padding, and every bit pattern is a value.
unsafe impl Plain for u8 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for i32 {}
// SAFETY: as above.
unsafe impl Plain for i64 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for f64 {}

/// The bytes of a slice of plain elements.
pub(crate) fn bytes_of<T: Plain>(items: &[T]) -> &[u8] {
    // SAFETY: `T` has no padding, so all `size_of_val(items)` bytes are initialized; `u8`
    // has alignment 1 and the view borrows `items`.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast(), size_of_val(items)) }
}

/// The bytes of a mutable slice of plain elements; any bytes written are valid elements.
pub(crate) fn bytes_of_mut<T: Plain>(items: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`, and every bit pattern written through the view is a valid `T`.
    unsafe { std::slice::from_raw_parts_mut(items.as_mut_ptr().cast(), size_of_val(items)) }
}

/// Appends `count` elements to `out`, within its capacity: `write` is given the first
/// `take` bytes of their memory, uninitialized, and returns them written; the bytes after
/// `take` are zeroed. `Ok(false)`, and nothing appended, if `write` returns other memory.
pub(crate) fn append_written<T: Plain, E>(
    out: &mut Vec<T>,
    count: usize,
    take: usize,
    write: impl for<'a> FnOnce(&'a mut [MaybeUninit<u8>]) -> Result<&'a mut [u8], E>,
) -> Result<bool, E> {
    let spare = &mut out.spare_capacity_mut()[..count];
    // SAFETY: the same memory, as bytes that may be uninitialized (bytes need no alignment).
    let piece: &mut [MaybeUninit<u8>] =
        unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast(), size_of_val(spare)) };
    let (wanted, padding) = piece.split_at_mut(take);
    let at = wanted.as_ptr();
    let written = write(wanted)?;
    if written.as_ptr() != at.cast() || written.len() != take {
        return Ok(false);
    }
    zeroed(padding);
    // SAFETY: all `count` elements' bytes are initialized (returned as bytes by `write`, or
    // zeroed), and any bytes are a valid `T` (`Plain`).
    unsafe { out.set_len(out.len() + count) };
    Ok(true)
}

/// Zeroes `bytes`, and gives them as the initialized bytes they now are.
pub(crate) fn zeroed(bytes: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    // SAFETY: writes every byte, then views them as the initialized bytes they are.
    unsafe {
        std::ptr::write_bytes(bytes.as_mut_ptr(), 0, bytes.len());
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len())
    }
}

/// The bytes of a slice of booleans (each 0 or 1).
pub(crate) fn bool_bytes(items: &[bool]) -> &[u8] {
    // SAFETY: `bool` is one initialized byte, 0 or 1, with alignment 1.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast(), items.len()) }
}

/// Reinterprets bytes as booleans without copying; `Err` names the first byte that is
/// neither 0 nor 1.
pub(crate) fn bools_from_bytes(bytes: Vec<u8>) -> Result<Vec<bool>, usize> {
    if let Some(bad) = bytes.iter().position(|&b| b > 1) {
        return Err(bad);
    }
    let mut bytes = ManuallyDrop::new(bytes);
    // SAFETY: `bool` has the size and alignment of `u8` (so the allocation's layout is
    // unchanged), and every byte was just checked to be 0 or 1.
    Ok(unsafe { Vec::from_raw_parts(bytes.as_mut_ptr().cast(), bytes.len(), bytes.capacity()) })
}

/// Copies little-endian element bytes into a new vector; `bytes.len()` must be a multiple
/// of the element size.
pub(crate) fn vec_from_bytes<T: Plain>(bytes: &[u8]) -> Vec<T> {
    let mut out = vec![T::default(); bytes.len() / size_of::<T>()];
    bytes_of_mut(&mut out).copy_from_slice(&bytes[..bytes.len() / size_of::<T>() * size_of::<T>()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_the_little_endian_bytes() {
        assert_eq!(bytes_of(&[1i32, -1]), &[1, 0, 0, 0, 255, 255, 255, 255]);
        assert_eq!(vec_from_bytes::<f64>(bytes_of(&[1.5f64, -0.0])), vec![1.5, -0.0]);
        assert_eq!(bool_bytes(&[true, false]), &[1, 0]);
        assert_eq!(bools_from_bytes(vec![1, 0, 1]), Ok(vec![true, false, true]));
        assert_eq!(bools_from_bytes(vec![1, 2]), Err(1));
    }
}
