//! A check of an Arrow IPC stream's framing before arrow decodes it: arrow's decoder
//! panics on a column buffer that points outside its message body, so every message
//! length and buffer range is checked here first.

use arrow_schema::ArrowError;

const CONTINUATION: [u8; 4] = [0xff; 4];

/// Checks that every message of the stream fits in `bytes` and that every buffer of its
/// record batches (and dictionary batches) lies inside the message body.
pub(crate) fn check_ipc_framing(mut bytes: &[u8]) -> Result<(), ArrowError> {
    let bad = |why: String| Err(ArrowError::IpcError(format!("malformed Arrow IPC stream: {why}")));
    while !bytes.is_empty() {
        if bytes.starts_with(&CONTINUATION) {
            bytes = &bytes[4..];
        }
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return bad(format!("{} stray bytes at the end", bytes.len()));
        };
        let len = i32::from_le_bytes(*len);
        if len == 0 {
            return Ok(());
        }
        let Some(meta) = usize::try_from(len).ok().filter(|&l| l <= rest.len()) else {
            return bad(format!("message metadata of {len} bytes, {} left", rest.len()));
        };
        let message = arrow_ipc::root_as_message(&rest[..meta]).map_err(|e| ArrowError::IpcError(e.to_string()))?;
        let body = message.bodyLength();
        let Some(body) = usize::try_from(body).ok().filter(|&b| b <= rest.len() - meta) else {
            return bad(format!("message body of {body} bytes, {} left", rest.len() - meta));
        };
        let batch = message.header_as_record_batch().or_else(|| message.header_as_dictionary_batch()?.data());
        for buffer in batch.iter().flat_map(|b| b.buffers()).flatten() {
            let end = buffer.offset().checked_add(buffer.length());
            if buffer.offset() < 0 || buffer.length() < 0 || end.is_none_or(|e| e as u64 > body as u64) {
                return bad(format!(
                    "a buffer at {} of {} bytes outside a body of {body} bytes",
                    buffer.offset(),
                    buffer.length()
                ));
            }
        }
        bytes = &rest[meta + body..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_lies_are_refused() {
        assert!(check_ipc_framing(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_ok());
        assert!(check_ipc_framing(&[0xff, 0xff, 0xff, 0xff, 100, 0, 0, 0, 1]).is_err());
        assert!(check_ipc_framing(&[1, 2]).is_err());
    }
}
