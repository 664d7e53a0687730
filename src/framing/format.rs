//! Where a frame's length lives and what it counts: the read options of
//! `tokio_util::codec::LengthDelimitedCodec`, applied by [`FrameReader`](super::FrameReader).

/// The length field's layout. A frame on the wire is `skip()` header bytes
/// (the length field among them, at `offset`), then the payload of
/// `value + adjustment` bytes; the frame handed out is what follows the
/// skipped bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LengthField {
    /// Bytes in the field, 1 to 8.
    pub(super) len: usize,
    /// Bytes before the field.
    pub(super) offset: usize,
    pub(super) big_endian: bool,
    /// Added to the field's value to give the bytes after the skipped ones.
    pub(super) adjustment: isize,
    /// Bytes dropped from the front of each frame; `None`: `offset + len`.
    pub(super) num_skip: Option<usize>,
}

impl Default for LengthField {
    /// 4 bytes, big-endian, at offset 0, no adjustment, the field skipped.
    fn default() -> Self {
        LengthField { len: 4, offset: 0, big_endian: true, adjustment: 0, num_skip: None }
    }
}

impl LengthField {
    /// Bytes needed before the field can be read and the skip applied.
    #[inline]
    pub(super) fn head_len(&self) -> usize {
        self.offset.saturating_add(self.len).max(self.num_skip.unwrap_or(0))
    }

    /// Bytes dropped from the front of each frame.
    #[inline]
    pub(super) fn skip(&self) -> usize {
        self.num_skip.unwrap_or(self.offset.saturating_add(self.len))
    }

    /// The field's value; `head.len() >= head_len()`.
    #[inline]
    pub(super) fn value(&self, head: &[u8]) -> u64 {
        let field = &head[self.offset..self.offset + self.len];
        let fold = |v: u64, &b: &u8| v << 8 | u64::from(b);
        if self.big_endian {
            field.iter().fold(0, fold)
        } else {
            field.iter().rev().fold(0, fold)
        }
    }

    /// The frame's whole extent on the wire (skipped bytes and payload) for a
    /// field `value`, or `None` if the value describes no frame: the adjusted
    /// length is negative or overflows, or the frame would end inside its own
    /// header (the next frame could then not be found).
    #[inline]
    pub(super) fn total(&self, value: u64) -> Option<usize> {
        let payload = usize::try_from(i128::from(value) + self.adjustment as i128).ok()?;
        let total = self.skip().checked_add(payload)?;
        (total >= self.head_len()).then_some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::LengthField;

    #[test]
    fn value_reads_either_endianness_at_any_width() {
        let head = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09];
        for len in 1..=8 {
            let be = LengthField { len, offset: 1, ..LengthField::default() };
            let le = LengthField { big_endian: false, ..be };
            let bytes = &head[1..1 + len];
            let mut pad = [0u8; 8];
            pad[8 - len..].copy_from_slice(bytes);
            assert_eq!(be.value(&head), u64::from_be_bytes(pad), "len {len}");
            let mut pad = [0u8; 8];
            pad[..len].copy_from_slice(bytes);
            assert_eq!(le.value(&head), u64::from_le_bytes(pad), "len {len}");
        }
        let full = LengthField { len: 8, ..LengthField::default() };
        assert_eq!(full.value(&[0xff; 8]), u64::MAX);
    }

    #[test]
    fn total_refuses_what_describes_no_frame() {
        let f = LengthField { len: 2, adjustment: -2, ..LengthField::default() };
        assert_eq!(f.head_len(), 2);
        assert_eq!(f.total(5), Some(5)); // 2 skipped + 3 payload
        assert_eq!(f.total(2), Some(2)); // an empty payload
        assert_eq!(f.total(1), None); // negative
        let f = LengthField { len: 8, adjustment: 1, ..LengthField::default() };
        assert_eq!(f.total(u64::MAX), None); // overflows
                                             // Nothing skipped and a frame shorter than its header: the reader
                                             // would parse the same header again as the next frame.
        let f = LengthField { len: 2, num_skip: Some(0), ..LengthField::default() };
        assert_eq!(f.total(1), None);
        assert_eq!(f.total(2), Some(2));
        let f = LengthField { num_skip: Some(10), ..LengthField::default() };
        assert_eq!((f.head_len(), f.skip(), f.total(3)), (10, 10, Some(13)));
    }
}
