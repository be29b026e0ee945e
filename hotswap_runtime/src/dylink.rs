//! The `dylink.0` custom section of a patch: how much memory and how many
//! table slots it needs (the tool's DESIGN.md, section 5.3).
//!
//! Hand-read rather than with wasmparser: it is one subsection of four LEB128
//! numbers, and wasmparser would be compiled into every web app that uses
//! this library.

/// What a position-independent module asks of the module that loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    /// Bytes of linear memory for its data.
    pub memory_size: u32,
    /// log2 of the alignment that memory needs.
    pub memory_alignment: u32,
    /// Function-table slots it fills.
    pub table_size: u32,
    pub table_alignment: u32,
}

/// `WASM_DYLINK_MEM_INFO`, the subsection with the sizes.
const MEM_INFO: u8 = 1;

/// Reads the payload of a `dylink.0` section (without the section's name).
/// A section without a mem-info subsection needs nothing: all zeros.
pub fn mem_info(payload: &[u8]) -> Result<MemInfo, String> {
    let mut rest = payload;
    while let Some((&kind, after)) = rest.split_first() {
        let (size, after) = leb128(after)?;
        let size = size as usize;
        if after.len() < size {
            return Err(format!(
                "dylink.0 subsection {kind} says {size} bytes, {} are left",
                after.len()
            ));
        }
        let (body, next) = after.split_at(size);
        if kind == MEM_INFO {
            let (memory_size, body) = leb128(body)?;
            let (memory_alignment, body) = leb128(body)?;
            let (table_size, body) = leb128(body)?;
            let (table_alignment, _) = leb128(body)?;
            return Ok(MemInfo {
                memory_size,
                memory_alignment,
                table_size,
                table_alignment,
            });
        }
        rest = next;
    }
    Ok(MemInfo {
        memory_size: 0,
        memory_alignment: 0,
        table_size: 0,
        table_alignment: 0,
    })
}

/// One unsigned LEB128 number of at most 32 bits, and what follows it.
fn leb128(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map(|value| (value, &bytes[i + 1..]))
                .map_err(|_| "dylink.0: a number does not fit 32 bits".to_string());
        }
    }
    Err("dylink.0 ends inside a number".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut n: u32) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn subsection(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend(leb(body.len() as u32));
        out.extend(body);
        out
    }

    #[test]
    fn reads_mem_info_after_other_subsections() {
        let needed = [&[0u8, 5][..], &[3]].concat(); // a WASM_DYLINK_NEEDED-like subsection
        let info = [leb(700_000), leb(4), leb(41), leb(0)].concat();
        let payload = [subsection(2, &needed), subsection(MEM_INFO, &info)].concat();
        assert_eq!(
            mem_info(&payload),
            Ok(MemInfo {
                memory_size: 700_000,
                memory_alignment: 4,
                table_size: 41,
                table_alignment: 0,
            })
        );
    }

    #[test]
    fn no_mem_info_needs_nothing() {
        assert_eq!(mem_info(&[]).unwrap().table_size, 0);
    }

    #[test]
    fn truncated_sections_are_errors_not_panics() {
        let info = [leb(700_000), leb(4), leb(41), leb(0)].concat();
        let payload = subsection(MEM_INFO, &info);
        for cut in 1..payload.len() {
            assert!(mem_info(&payload[..cut]).is_err(), "cut at {cut}");
        }
        assert!(mem_info(&[MEM_INFO, 1, 0xff]).is_err());
        assert!(
            leb128(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(),
            "over 32 bits"
        );
    }
}
