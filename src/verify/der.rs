//! Just enough DER for the few certificate fields signgate reads itself
//! (subject and issuer names, the SCT list extension) and for writing a
//! re-encoded TBS back: single-byte tags, definite lengths of up to four
//! bytes. Anything else is unreadable (`None`), never guessed at.

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tlv<'a> {
    pub tag: u8,
    /// Tag, length and content, as they were encoded.
    pub whole: &'a [u8],
    pub content: &'a [u8],
}

/// The first element of `input`, and what follows it.
pub(super) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers: not in the fields read here
    }
    let first = *input.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None; // indefinite, or larger than anything read here
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (2 + n, len)
    };
    let end = header.checked_add(len)?;
    let tlv = Tlv {
        tag,
        whole: input.get(..end)?,
        content: input.get(header..end)?,
    };
    Some((tlv, input.get(end..)?))
}

/// Every element of `input`, which must hold nothing else.
pub(super) fn elements(mut input: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = read(input)?;
        out.push(tlv);
        input = rest;
    }
    Some(out)
}

/// `tag`, the minimal DER length of `content`, `content`.
pub(super) fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_round_trip_with_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = write(0x04, &content);
            let (tlv, rest) = read(&encoded).unwrap();
            assert_eq!((tlv.tag, tlv.content.len(), rest.len()), (0x04, len, 0));
            assert_eq!(tlv.whole, &encoded[..]);
        }
        let two = [write(0x02, &[1]), write(0x30, &[])].concat();
        assert_eq!(elements(&two).unwrap().len(), 2);
    }

    #[test]
    fn malformed_elements_are_unreadable() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x1f, 0x01, 0x00],
            &[0x30, 0x82, 0xff],
        ] {
            assert!(read(bad).is_none(), "{bad:?}");
        }
        assert!(elements(&[0x02, 0x01, 0x01, 0x02]).is_none());
    }
}
