//! Byte- and bit-level coding under the chunk and outcome formats: LEB128 varints,
//! zig-zag, a byte cursor, and bit streams written and read most significant bit first.
//! Reading never panics on short or bad input: it returns [`CodecError`].

use std::fmt;

/// Bytes that are not a chunk this build can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub(crate) &'static str);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable chunk: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// A cursor over bytes, for headers and rows.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> ByteReader<'a> {
        ByteReader { bytes, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(CodecError("truncated byte"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(CodecError("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(CodecError("varint too long"));
            }
        }
    }

    pub(crate) fn ivarint(&mut self) -> Result<i64, CodecError> {
        self.uvarint().map(unzigzag)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, CodecError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(CodecError("truncated field"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos.min(self.bytes.len())..];
        self.pos = self.bytes.len();
        s
    }

    pub(crate) fn len_usize(&mut self, max: usize) -> Result<usize, CodecError> {
        let v = self.uvarint()?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= max)
            .ok_or(CodecError("length out of range"))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BitWriter {
    pub(crate) buf: Vec<u8>,
    /// Bits written.
    pub(crate) len: u64,
}

impl BitWriter {
    /// Append the low `n` bits of `value` (n ≤ 64).
    pub(crate) fn write(&mut self, value: u64, n: u32) {
        let mut remaining = n;
        while remaining > 0 {
            let used = (self.len % 8) as u32;
            if used == 0 {
                self.buf.push(0);
            }
            let free = 8 - used;
            let take = free.min(remaining);
            let shift = remaining - take;
            let bits = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= bits << (free - take);
            }
            remaining -= take;
            self.len += u64::from(take);
        }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }
}

/// Reads bits through a 64-bit accumulator refilled a byte at a time: range reads
/// decode hundreds of thousands of samples, so this is the hot loop.
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    /// Next byte to load.
    next: usize,
    /// Unread bits, left-aligned; the rest are zero.
    acc: u64,
    /// How many bits of `acc` are unread.
    bits: u32,
}

/// The most bits one refill guarantees (a byte short of the accumulator).
const REFILL_BITS: u32 = 56;

impl<'a> BitReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> BitReader<'a> {
        BitReader {
            buf,
            next: 0,
            acc: 0,
            bits: 0,
        }
    }

    #[inline]
    fn refill(&mut self) {
        // Eight bytes at once where there are eight: the whole bytes that fit count;
        // the part of the next byte that also lands is the stream's own bits, and the
        // next refill writes the same bits over it.
        if let Some(word) = self.buf.get(self.next..self.next + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            self.acc |= u64::from_be_bytes(b) >> self.bits;
            let take = (64 - self.bits) / 8;
            self.next += take as usize;
            self.bits += take * 8;
            return;
        }
        while self.bits <= REFILL_BITS {
            let Some(&b) = self.buf.get(self.next) else {
                return;
            };
            self.acc |= u64::from(b) << (REFILL_BITS - self.bits);
            self.bits += 8;
            self.next += 1;
        }
    }

    /// Read `n` ≤ 64 bits.
    #[inline]
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, CodecError> {
        if n > REFILL_BITS {
            let hi = self.read(n - 32)?;
            return Ok((hi << 32) | self.read(32)?);
        }
        if n == 0 {
            return Ok(0);
        }
        if self.bits < n {
            self.refill();
            if self.bits < n {
                return Err(CodecError("bit stream ends early"));
            }
        }
        let v = self.acc >> (64 - n);
        // n ≤ 56 here: the shift stays in range.
        self.acc <<= n;
        self.bits -= n;
        Ok(v)
    }

    #[inline]
    pub(crate) fn bit(&mut self) -> Result<bool, CodecError> {
        Ok(self.read(1)? == 1)
    }

    /// Count leading one bits, up to `max` (≤ 8), and consume them and the zero that
    /// ends them (none after `max` ones).
    #[inline]
    pub(crate) fn ones(&mut self, max: u32) -> Result<u32, CodecError> {
        if self.bits < max {
            self.refill();
        }
        let n = (!self.acc).leading_zeros().min(max).min(self.bits);
        self.read(if n < max { n + 1 } else { n })?;
        Ok(n)
    }
}

/// Sign-extend the low `n` bits of `v`.
pub(crate) fn sign_extend(v: u64, n: u32) -> i64 {
    let shift = 64 - n;
    ((v << shift) as i64) >> shift
}

pub(crate) fn fits(v: i64, bits: u32) -> bool {
    if bits >= 64 {
        return true;
    }
    let lo = -(1i64 << (bits - 1));
    let hi = (1i64 << (bits - 1)) - 1;
    (lo..=hi).contains(&v)
}

pub(crate) fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = Vec::new();
            put_ivarint(&mut b, v);
            assert_eq!(ByteReader::new(&b).ivarint().unwrap(), v);
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(ByteReader::new(&b).uvarint().unwrap(), u64::MAX);
        assert!(ByteReader::new(&[0xff; 11]).uvarint().is_err());
    }

    #[test]
    fn bits_round_trip_across_refills() {
        let mut w = BitWriter::default();
        let widths = [1u32, 7, 64, 13, 0, 57, 3, 64, 32, 9];
        for (i, &n) in widths.iter().cycle().take(500).enumerate() {
            w.write((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask(n), n);
        }
        let mut r = BitReader::new(&w.buf);
        for (i, &n) in widths.iter().cycle().take(500).enumerate() {
            let want = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask(n);
            assert_eq!(r.read(n).unwrap(), want, "value {i}, {n} bits");
        }
        assert!(r.read(64).is_err());
    }
}
